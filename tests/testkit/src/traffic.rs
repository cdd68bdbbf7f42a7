//! Real client traffic against a MariaDB server, so the audit plugin writes
//! (and rotates) real audit files.

use mysql_async::prelude::*;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long)]
    port: u16,
    #[arg(long, default_value = "app")]
    user: String,
    #[arg(long, default_value = "app-pass")]
    password: String,
    /// Statements to run.
    #[arg(long, default_value_t = 100)]
    queries: u32,
    /// Force an audit-file rotation after every this many statements.
    #[arg(long)]
    rotate_every: Option<u32>,
    /// Read-only statements (for a replica).
    #[arg(long)]
    read_only: bool,
    /// Bytes of payload per statement (longer audit lines).
    #[arg(long, default_value_t = 40)]
    payload: usize,
    /// Random (incompressible) hex payload instead of text.
    #[arg(long, conflicts_with = "varied_payload")]
    random_payload: bool,
    /// Payload like an application's values (words, numbers, ids that
    /// differ in every statement) instead of one repeated text: audit logs
    /// that compress as real ones do (about 5 : 1), not 80 : 1.
    #[arg(long)]
    varied_payload: bool,
    /// A tag written into every statement, to find them in the logs.
    #[arg(long, default_value = "t")]
    tag: String,
}

pub async fn main(a: Args) -> anyhow::Result<()> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(a.host.clone())
        .tcp_port(a.port)
        .user(Some(a.user.clone()))
        .pass(Some(a.password.clone()))
        .db_name(Some("shop"));
    let mut conn = mysql_async::Conn::new(opts).await?;
    // Multi-byte text and quotes and commas, as real audit lines carry.
    let text = "äöü €, 'quoted' ".repeat(a.payload / 16 + 1);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1;
    // xorshift64: cheap, and plenty random for "does not compress".
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut random_payload = |len: usize, varied: bool| {
        let mut s = String::with_capacity(len + 32);
        while s.len() < len {
            let r = next();
            if varied {
                let word = WORDS[(r % WORDS.len() as u64) as usize];
                match (r >> 8) % 4 {
                    0 => s.push_str(&format!("{word}={} ", (r >> 16) % 100_000)),
                    1 => s.push_str(&format!(
                        "{word}='{}@{}.example' ",
                        WORDS[((r >> 16) % 64) as usize],
                        WORDS[((r >> 24) % 64) as usize]
                    )),
                    2 => s.push_str(&format!("{word}_id='{:08x}' ", (r >> 20) as u32)),
                    _ => s.push_str(&format!("{word} ")),
                }
            } else {
                s.push_str(&format!("{r:016x}"));
            }
        }
        s.truncate(len);
        s
    };
    for n in 0..a.queries {
        if a.read_only {
            conn.query_drop(format!("SELECT v FROM t WHERE v LIKE '{}-{n}%' LIMIT 1", a.tag)).await?;
        } else {
            let payload = if a.random_payload || a.varied_payload {
                random_payload(a.payload, a.varied_payload)
            } else {
                text[..text.char_indices().nth(a.payload).map_or(text.len(), |(i, _)| i)].to_string()
            };
            let v = format!("{}-{n}-{payload}", a.tag);
            conn.exec_drop("INSERT INTO t (v) VALUES (?)", (v,)).await?;
        }
        if let Some(k) = a.rotate_every {
            if k > 0 && (n + 1) % k == 0 {
                conn.query_drop("SET GLOBAL server_audit_file_rotate_now = ON").await?;
            }
        }
    }
    conn.disconnect().await?;
    Ok(())
}

/// The vocabulary of `--varied-payload` (64 words, ASCII, so truncating a
/// payload never splits a character).
const WORDS: [&str; 64] = [
    "order",
    "customer",
    "amount",
    "status",
    "shipped",
    "pending",
    "refund",
    "invoice",
    "account",
    "balance",
    "credit",
    "debit",
    "region",
    "warehouse",
    "product",
    "quantity",
    "price",
    "discount",
    "coupon",
    "cart",
    "session",
    "token",
    "login",
    "logout",
    "password",
    "reset",
    "email",
    "phone",
    "address",
    "city",
    "country",
    "postcode",
    "created",
    "updated",
    "deleted",
    "archived",
    "priority",
    "ticket",
    "agent",
    "note",
    "comment",
    "rating",
    "review",
    "supplier",
    "batch",
    "carrier",
    "tracking",
    "delivery",
    "return",
    "reason",
    "currency",
    "tax",
    "total",
    "subtotal",
    "payment",
    "card",
    "wallet",
    "transfer",
    "ledger",
    "audit",
    "report",
    "export",
    "import",
    "job",
];

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
    #[arg(long)]
    random_payload: bool,
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
    let mut random_hex = |len: usize| {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            // xorshift64: cheap, and plenty random for "does not compress".
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(&format!("{seed:016x}"));
        }
        s.truncate(len);
        s
    };
    for n in 0..a.queries {
        if a.read_only {
            conn.query_drop(format!("SELECT v FROM t WHERE v LIKE '{}-{n}%' LIMIT 1", a.tag)).await?;
        } else {
            let payload = if a.random_payload {
                random_hex(a.payload)
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

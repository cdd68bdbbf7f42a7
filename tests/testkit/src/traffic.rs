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
    for n in 0..a.queries {
        if a.read_only {
            conn.query_drop(format!("SELECT v FROM t WHERE v LIKE '{}-{n}%' LIMIT 1", a.tag)).await?;
        } else {
            let v = format!("{}-{n}-{}", a.tag, &text[..text.char_indices().nth(a.payload).map_or(text.len(), |(i, _)| i)]);
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

//! Re-writes the lines of a MariaDB audit directory into Aurora MySQL's
//! layout: four stripe files written at once, named
//! `audit.log.<stripe>.<YYYY-MM-DD-HH-MM>.<n>`, each rotated by size.
//!
//! The lines are the plugin's real lines; only the file layout is Aurora's.
//! Each call copies the complete lines that appeared since the last call
//! (remembered in a state file in the target directory), dealing them out
//! round-robin over the stripes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The MariaDB audit directory to read.
    #[arg(long)]
    from: PathBuf,
    /// The Aurora-layout directory to write.
    #[arg(long)]
    to: PathBuf,
    /// Rotate a stripe file once it holds this many bytes.
    #[arg(long, default_value_t = 20_000)]
    rotate_size: u64,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct StripeState {
    /// first line of a source file → bytes of it already copied
    copied: BTreeMap<String, u64>,
    /// stripe → current file name
    current: BTreeMap<u8, String>,
    next_stripe: u8,
    seq: u32,
}

pub fn main(a: Args) -> anyhow::Result<()> {
    fs::create_dir_all(&a.to)?;
    let state_path = a.to.join(".stripe-state.json");
    let mut st: StripeState =
        fs::read(&state_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    // Oldest source file first: highest rotation suffix, the active one last.
    let mut sources: Vec<(u32, PathBuf)> = fs::read_dir(&a.from)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let rest = name.strip_prefix("server_audit.log")?;
            let rank = if rest.is_empty() { 0 } else { rest.strip_prefix('.')?.parse().ok()? };
            Some((rank, e.path()))
        })
        .collect();
    sources.sort_by(|x, y| y.0.cmp(&x.0));
    for (_, path) in sources {
        let data = fs::read(&path)?;
        let Some(nl) = data.iter().position(|&b| b == b'\n') else { continue };
        let key = String::from_utf8_lossy(&data[..nl]).to_string();
        let done = *st.copied.get(&key).unwrap_or(&0) as usize;
        let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if end <= done {
            continue;
        }
        for line in data[done..end].split_inclusive(|&b| b == b'\n') {
            append_line(&a.to, &mut st, line, a.rotate_size)?;
        }
        st.copied.insert(key, end as u64);
    }
    fs::write(&state_path, serde_json::to_vec(&st)?)?;
    Ok(())
}

fn append_line(dir: &Path, st: &mut StripeState, line: &[u8], rotate_size: u64) -> anyhow::Result<()> {
    let stripe = st.next_stripe;
    st.next_stripe = (st.next_stripe + 1) % 4;
    let current = st.current.get(&stripe).cloned();
    let full = current.as_ref().map(|n| fs::metadata(dir.join(n)).map(|m| m.len() >= rotate_size).unwrap_or(true));
    let name = match (current, full) {
        (Some(n), Some(false)) => n,
        _ => {
            st.seq += 1;
            let n = format!("audit.log.{stripe}.{}.{}", chrono::Utc::now().format("%Y-%m-%d-%H-%M"), st.seq);
            st.current.insert(stripe, n.clone());
            n
        }
    };
    let mut f = fs::OpenOptions::new().create(true).append(true).open(dir.join(name))?;
    f.write_all(line)?;
    Ok(())
}

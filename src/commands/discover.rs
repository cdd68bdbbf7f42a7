//! `discover`: the instances a selection names, with their identity and
//! role: a table for people, JSON lines with `--json`.

use super::{config_error, stop_on_signal, Writes};
use crate::cli::DiscoverArgs;
use crate::clients::Clients;
use crate::discover;
use crate::error::{Failure, Severity};
use crate::instance::Instance;
use crate::output::{Align, Table};
use std::sync::Arc;

pub(crate) async fn command(args: DiscoverArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let clients = Clients::build(cfg, stop_on_signal(Writes::Nothing)).await?;
    let instances = discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await?;
    if instances.is_empty() {
        // As `run`, `status` and `verify` say of the same selection.
        return Err(super::no_instance_selected());
    }
    if args.json {
        for i in &instances {
            crate::outln!("{}", serde_json::to_string(i).expect("instance serializes"));
        }
    } else {
        let table = table(&instances);
        crate::outln!("{}", table.header());
        for i in &instances {
            crate::outln!("{}", table.row(&cells(i)));
        }
    }
    // Shown as the API reports them; `run` refuses to ship this.
    if let Err(f) = discover::check_unique_resource_ids(&instances) {
        tracing::warn!("{}", f.message);
    }
    Ok(Severity::default())
}

/// The cells of an instance's row; "-" where it has none (no cluster, an
/// endpoint the API did not give).
fn cells(i: &Instance) -> Vec<String> {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    vec![
        i.id.0.clone(),
        i.role.as_str().to_string(),
        i.resource_id.0.clone(),
        or_dash(i.cluster.as_deref()),
        i.engine.clone(),
        i.status.clone(),
        or_dash(i.endpoint.as_deref()),
    ]
}

fn table(instances: &[Instance]) -> Table {
    use Align::Left;
    let mut table = Table::new(&[
        ("INSTANCE", Left),
        ("ROLE", Left),
        ("RESOURCE ID", Left),
        ("CLUSTER", Left),
        ("ENGINE", Left),
        ("STATUS", Left),
        ("ENDPOINT", Left),
    ]);
    for i in instances {
        for (index, cell) in cells(i).iter().enumerate() {
            table.fit(index, cell);
        }
    }
    table
}

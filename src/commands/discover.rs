//! `discover`: the instances a selection names, as JSON lines, with their
//! identity and role.

use super::{config_error, stop_on_signal, Writes};
use crate::cli::DiscoverArgs;
use crate::clients::Clients;
use crate::discover;
use crate::error::{Failure, Severity};
use std::sync::Arc;

pub(crate) async fn command(args: DiscoverArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let clients = Clients::build(cfg, stop_on_signal(Writes::Nothing)).await?;
    let instances = discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await?;
    if instances.is_empty() {
        // As `run`, `status` and `verify` say of the same selection.
        return Err(super::no_instance_selected());
    }
    for i in &instances {
        crate::outln!("{}", serde_json::to_string(i).expect("instance serializes"));
    }
    // Shown as the API reports them; `run` refuses to ship this.
    if let Err(f) = discover::check_unique_resource_ids(&instances) {
        tracing::warn!("{}", f.message);
    }
    Ok(Severity::default())
}

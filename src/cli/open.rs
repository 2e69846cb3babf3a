//! What the administrative commands (`reconcile`, `reclaim`, `extend`,
//! `check-rules --portal`) open before they work: the organization's
//! portal, signed in with the administrator's credentials from the
//! environment, and a store that must already exist.

use std::path::Path;

use anyhow::{Result, anyhow, bail};

use crate::config::{Secrets, SecretsSource, WorkflowSettings, normalise_portal_url};
use crate::portal::arcgis::ArcGisPortal;
use crate::seats::sqlite::SqliteLedger;
use crate::startup;

/// The portal at `raw_url` (completed to its sharing root), signed in
/// with `ARCGIS_USERNAME`/`ARCGIS_PASSWORD` (or `ARCGIS_PASSWORD_FILE`);
/// also the sharing root and the broker's username.
pub(super) async fn admin_portal(raw_url: &str) -> Result<Opened> {
    let url = normalise_portal_url(raw_url).map_err(|e| anyhow!("{e}"))?;
    let secrets = Secrets::load(&SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let portal = startup::arcgis_portal(
        &url,
        "agol-seat-broker",
        &secrets,
        &WorkflowSettings::default(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(Opened {
        portal,
        url,
        broker: secrets.arcgis_username.clone(),
    })
}

/// The portal [`admin_portal`] opened.
pub(super) struct Opened {
    /// The client.
    pub portal: ArcGisPortal,
    /// The sharing root it talks to.
    pub url: String,
    /// The administrator it signed in as.
    pub broker: String,
}

/// The SQLite store at `path`, which a sign-up must have made already: a
/// command that reads or changes seats never starts an empty one.
pub(super) fn existing_sqlite(path: &Path) -> Result<SqliteLedger> {
    if !path.exists() {
        bail!(
            "{} does not exist yet (no sign-up was handled with this store)",
            path.display()
        );
    }
    SqliteLedger::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))
}

//! [`PortalFlavour`]: which kind of portal the broker administers — ArcGIS
//! Online or an ArcGIS Enterprise portal. The two share the sharing REST
//! API but differ in how a member is created (Online: `portals/self/invite`;
//! Enterprise: `portaladmin/security/users/createUser`, groups added
//! afterwards) and where the licences are counted (Online:
//! `portals/self.subscriptionInfo`; Enterprise: `portaladmin/license`),
//! fact sheet §3 and §5.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The flavour a portal URL implies when `PORTAL_FLAVOUR` does not say:
/// ArcGIS Online for `*.arcgis.com` and for loopback hosts (the local
/// simulator's default), an Enterprise portal for any other host.
pub fn flavour_of_url(url: &url::Url) -> PortalFlavour {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let online = host == "arcgis.com" || host.ends_with(".arcgis.com");
    if online || crate::domain::layer_url::is_loopback(url) {
        PortalFlavour::Online
    } else {
        PortalFlavour::Enterprise
    }
}

/// The kind of portal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalFlavour {
    /// ArcGIS Online (`*.maps.arcgis.com`).
    #[default]
    Online,
    /// An ArcGIS Enterprise portal (`https://<host>/<webadaptor>`), with its
    /// administrative API at `<webadaptor>/portaladmin`.
    Enterprise,
}

impl PortalFlavour {
    /// The spelling used in `PORTAL_FLAVOUR`, flags and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalFlavour::Online => "online",
            PortalFlavour::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for PortalFlavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PortalFlavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "online" | "agol" | "arcgis-online" => Ok(PortalFlavour::Online),
            "enterprise" | "arcgis-enterprise" => Ok(PortalFlavour::Enterprise),
            other => Err(format!(
                "unknown portal flavour {other:?} (expected \"online\" or \"enterprise\")"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_read_their_own_spelling_back() {
        for f in [PortalFlavour::Online, PortalFlavour::Enterprise] {
            assert_eq!(f.as_str().parse::<PortalFlavour>(), Ok(f));
        }
        assert_eq!(" Enterprise ".parse(), Ok(PortalFlavour::Enterprise));
        assert!("portal".parse::<PortalFlavour>().is_err());
    }

    #[test]
    fn a_url_implies_online_for_arcgis_com_and_loopback_and_enterprise_elsewhere() {
        let of = |s: &str| flavour_of_url(&url::Url::parse(s).unwrap());
        assert_eq!(
            of("https://acme.maps.arcgis.com/sharing/rest"),
            PortalFlavour::Online
        );
        assert_eq!(
            of("http://127.0.0.1:8090/sharing/rest"),
            PortalFlavour::Online
        );
        assert_eq!(
            of("https://gis.example.org/portal/sharing/rest"),
            PortalFlavour::Enterprise
        );
        assert_eq!(
            of("https://arcgis.com.evil.example/sharing/rest"),
            PortalFlavour::Enterprise
        );
    }
}

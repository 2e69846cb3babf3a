//! [`LinkSigner`]: the one-time approve/deny links of a notice, signed with
//! the link key (HMAC-SHA256 over the request id, the verdict and the
//! expiry) and checked in constant time when they come back.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::LinkMaker;
use crate::config::Secret;
use crate::domain::{UnixMillis, Verdict};
use crate::ids::{hex, unhex_mac};

/// Makes and checks one-time approval links:
/// `{base}/approvals/{id}/link?decision=approve&exp=<ms>&sig=<hex HMAC-SHA256>`.
pub struct LinkSigner {
    key: Secret,
    base_url: String,
}

impl LinkSigner {
    /// A signer for links under `base_url` (the broker's public URL).
    pub fn new(key: Secret, base_url: &str) -> Result<Self, String> {
        if key.expose().len() < 16 {
            return Err("APPROVAL_LINK_SECRET must be at least 16 characters".into());
        }
        url::Url::parse(base_url).map_err(|_| "PUBLIC_URL is not a URL".to_string())?;
        Ok(LinkSigner {
            key,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    fn mac(&self, id: &str, verdict: Verdict, exp: UnixMillis) -> Hmac<Sha256> {
        // ok: HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(format!("approval-link|{id}|{}|{exp}", verdict.as_str()).as_bytes());
        mac
    }

    fn sign(&self, id: &str, verdict: Verdict, exp: UnixMillis) -> String {
        hex(&self.mac(id, verdict, exp).finalize().into_bytes())
    }

    /// Whether a presented signature is right (constant time) and unexpired.
    pub fn check(
        &self,
        id: &str,
        verdict: Verdict,
        exp: UnixMillis,
        sig: &str,
        now: UnixMillis,
    ) -> bool {
        let Some(bytes) = unhex_mac(sig) else {
            return false;
        };
        self.mac(id, verdict, exp).verify_slice(&bytes).is_ok() && now <= exp
    }

    /// A link for one verdict.
    pub fn link(&self, id: &str, verdict: Verdict, exp: UnixMillis) -> String {
        format!(
            "{}/approvals/{id}/link?decision={}&exp={exp}&sig={}",
            self.base_url,
            verdict.as_str(),
            self.sign(id, verdict, exp)
        )
    }
}

impl LinkMaker for LinkSigner {
    fn links(&self, id: &str, expires_at: UnixMillis) -> (String, String) {
        (
            self.link(id, Verdict::Approve, expires_at),
            self.link(id, Verdict::Deny, expires_at),
        )
    }

    fn admin_url(&self) -> String {
        format!("{}/admin", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_once_signed_and_not_after_expiry_or_tampering() {
        let s =
            LinkSigner::new(Secret::new("0123456789abcdef-test"), "https://b.example/").unwrap();
        let url = s.link("req1", Verdict::Approve, 2_000);
        assert!(
            url.starts_with("https://b.example/approvals/req1/link?decision=approve&exp=2000&sig=")
        );
        let sig = url.rsplit("sig=").next().unwrap();
        assert!(s.check("req1", Verdict::Approve, 2_000, sig, 1_000));
        assert!(
            !s.check("req1", Verdict::Approve, 2_000, sig, 2_001),
            "expired"
        );
        assert!(
            !s.check("req1", Verdict::Deny, 2_000, sig, 1_000),
            "another verdict"
        );
        assert!(
            !s.check("req2", Verdict::Approve, 2_000, sig, 1_000),
            "another request"
        );
        assert!(
            !s.check("req1", Verdict::Approve, 9_000, sig, 1_000),
            "another expiry"
        );
        assert!(!s.check("req1", Verdict::Approve, 2_000, "zz", 1_000));
        assert!(LinkSigner::new(Secret::new("short"), "https://b.example").is_err());
    }
}

//! The applicants' mail channel, read from the environment.
//!
//! Applicants are not members of the organization yet, so the portal's own
//! notifications cannot reach them: the decision on their request goes out
//! by mail, through SES in AWS or an SMTP server elsewhere (see
//! `notify::mail`). This module only reads and checks the settings:
//!
//! | variable | values |
//! |---|---|
//! | `MAIL_CHANNEL` | `ses`, `smtp`, `log` (the default: a log line with the address masked), `off` |
//! | `MAIL_FROM` | the sender, `noreply@example.org` or `Seats <noreply@example.org>`; required by `ses` and `smtp` |
//! | `SMTP_URL` | `smtp://[user[:password]@]host[:port]` (STARTTLS required, port 587), `smtps://…` (TLS from the first byte, port 465), `smtp://host:1025?tls=none` (plain text: a local catcher such as Mailpit) |
//!
//! The SMTP password may sit in the URL (percent-encoded) or, better, in
//! the secret (`smtp_password`, or `SMTP_PASSWORD` / `SMTP_PASSWORD_FILE`
//! locally). The URL is never kept whole nor echoed in an error, so the
//! password cannot reach a log. Every error starts with a stable code
//! (`mail_channel_invalid`, `mail_from_missing`, `mail_from_invalid`,
//! `smtp_url_missing`, `smtp_url_invalid`, `smtp_plaintext_credentials`).

use super::{ConfigError, Secret, env_var};

/// Where applicants' mail goes.
#[derive(Debug, Clone, Default)]
pub enum MailChannel {
    /// Nowhere: applicants are not told (the deployed default while the
    /// template's `MailFrom` is empty).
    #[default]
    Off,
    /// A log line per mail, the address masked (the local default).
    Log,
    /// Amazon SES (v2 `SendEmail`), region and credentials from the
    /// default chain.
    Ses,
    /// An SMTP server.
    Smtp(SmtpSettings),
}

impl MailChannel {
    /// The channel's name, as `MAIL_CHANNEL` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            MailChannel::Off => "off",
            MailChannel::Log => "log",
            MailChannel::Ses => "ses",
            MailChannel::Smtp(_) => "smtp",
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text, then `STARTTLS`, which the server must offer
    /// (`smtp://`, the default; port 587).
    StartTls,
    /// TLS from the first byte (`smtps://`; port 465).
    Implicit,
    /// No TLS at all (`?tls=none`): only for a local mail catcher.
    None,
}

/// The SMTP server (from `SMTP_URL`).
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Protection of the connection.
    pub tls: SmtpTls,
    /// User to authenticate as, if any.
    pub username: Option<String>,
    /// Its password, when the URL carries one (else the secret's
    /// `smtp_password` is used).
    pub password: Option<Secret>,
}

/// The applicants' mail settings.
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// The channel.
    pub channel: MailChannel,
    /// The sender (`MAIL_FROM`); required by SES and SMTP.
    pub from: Option<String>,
}

impl MailSettings {
    /// Reads `MAIL_CHANNEL`, `MAIL_FROM` and `SMTP_URL` from the
    /// environment; see [`MailSettings::parse`].
    pub fn from_env() -> Result<MailSettings, ConfigError> {
        Self::parse(env_var)
    }

    /// Reads the settings through `var` (a variable's value; `None` when
    /// unset or blank). `MAIL_CHANNEL` unset means `log`.
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<MailSettings, ConfigError> {
        let raw = var("MAIL_CHANNEL").map(|v| v.trim().to_ascii_lowercase());
        let from = var("MAIL_FROM").map(|v| v.trim().to_string());
        let channel = match raw.as_deref() {
            None | Some("log") => MailChannel::Log,
            Some("off" | "none") => MailChannel::Off,
            Some("ses") => MailChannel::Ses,
            Some("smtp") => MailChannel::Smtp(smtp_url(var("SMTP_URL").as_deref())?),
            Some(other) => {
                return Err(ConfigError(format!(
                    "mail_channel_invalid: MAIL_CHANNEL must be ses, smtp, log or off, got {:?}",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        if matches!(channel, MailChannel::Ses | MailChannel::Smtp(_)) {
            match &from {
                None => {
                    return Err(ConfigError(format!(
                        "mail_from_missing: MAIL_CHANNEL={} needs MAIL_FROM, the sender's address{}",
                        channel.name(),
                        if matches!(channel, MailChannel::Ses) {
                            " (an identity verified in SES)"
                        } else {
                            ""
                        }
                    )));
                }
                Some(f) if !looks_like_sender(f) => {
                    return Err(ConfigError(
                        "mail_from_invalid: MAIL_FROM must be an address, noreply@example.org or Name <noreply@example.org>".into(),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(MailSettings { channel, from })
    }
}

/// `addr@domain` or `Name <addr@domain>`: a first check (the adapters parse
/// it properly), so a typo stops the start instead of every mail.
fn looks_like_sender(from: &str) -> bool {
    let addr = match (from.rfind('<'), from.ends_with('>')) {
        (Some(i), true) => &from[i + 1..from.len() - 1],
        (None, false) => from,
        _ => return false,
    };
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    }
}

/// The refusal of an unusable `SMTP_URL`: names the form, never the value
/// (it may hold a password).
fn bad_url(why: &str) -> ConfigError {
    ConfigError(format!(
        "smtp_url_invalid: SMTP_URL {why}; expected smtp://[user[:password]@]host[:port], smtps://… or smtp://host:port?tls=none (the value is not shown: it may hold a password)"
    ))
}

/// Parses `SMTP_URL`; see the module's table.
fn smtp_url(raw: Option<&str>) -> Result<SmtpSettings, ConfigError> {
    let Some(raw) = raw else {
        return Err(ConfigError(
            "smtp_url_missing: MAIL_CHANNEL=smtp needs SMTP_URL, e.g. smtp://user@mail.example.org:587 (password in the secret's smtp_password or SMTP_PASSWORD)".into(),
        ));
    };
    let url = url::Url::parse(raw.trim()).map_err(|_| bad_url("is not a URL"))?;
    let mut tls = match url.scheme() {
        "smtp" => SmtpTls::StartTls,
        "smtps" => SmtpTls::Implicit,
        _ => return Err(bad_url("must start with smtp:// or smtps://")),
    };
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref(), tls) {
            ("tls", "starttls" | "required", SmtpTls::StartTls) => {}
            ("tls", "none", SmtpTls::StartTls) => tls = SmtpTls::None,
            ("tls", _, _) => {
                return Err(bad_url(
                    "has a tls= other than starttls or none (smtps:// takes none)",
                ));
            }
            _ => return Err(bad_url("has a query parameter other than tls")),
        }
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad_url("has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port().unwrap_or(match tls {
        SmtpTls::Implicit => 465,
        SmtpTls::StartTls => 587,
        SmtpTls::None => 25,
    });
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| bad_url("has a user or password that is not valid UTF-8"))
    };
    let username = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = match url.password() {
        None | Some("") => None,
        Some(p) => Some(Secret::new(decode(p)?)),
    };
    if password.is_some() && username.is_none() {
        return Err(bad_url("has a password but no user"));
    }
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
    if tls == SmtpTls::None && username.is_some() && !loopback {
        return Err(ConfigError(
            "smtp_plaintext_credentials: SMTP_URL has tls=none and a user: the password would cross the network in clear text; use STARTTLS (smtp://) or smtps://".into(),
        ));
    }
    Ok(SmtpSettings {
        host,
        port,
        tls,
        username,
        password,
    })
}

/// `%XX` sequences decoded; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MailSettings::parse(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn code(r: Result<MailSettings, ConfigError>) -> String {
        let e = r.unwrap_err().0;
        e.split(':').next().unwrap_or_default().to_string()
    }

    #[test]
    fn the_channel_defaults_to_the_log_and_off_needs_nothing() {
        assert!(matches!(parse(&[]).unwrap().channel, MailChannel::Log));
        assert!(matches!(
            parse(&[("MAIL_CHANNEL", "OFF")]).unwrap().channel,
            MailChannel::Off
        ));
        let ses = parse(&[
            ("MAIL_CHANNEL", "ses"),
            ("MAIL_FROM", "Seats <noreply@example.org>"),
        ])
        .unwrap();
        assert!(matches!(ses.channel, MailChannel::Ses));
        assert_eq!(ses.from.as_deref(), Some("Seats <noreply@example.org>"));
    }

    #[test]
    fn a_bad_channel_or_sender_is_refused_with_a_stable_code() {
        let e = parse(&[("MAIL_CHANNEL", "pigeon")]).unwrap_err().0;
        assert!(e.starts_with("mail_channel_invalid: "), "{e}");
        assert!(
            e.contains("ses, smtp, log or off") && e.contains("pigeon"),
            "{e}"
        );
        assert_eq!(code(parse(&[("MAIL_CHANNEL", "ses")])), "mail_from_missing");
        for bad in [
            "noreply",
            "noreply@localhost",
            "Seats <noreply@example.org",
            "a b@x.org",
        ] {
            assert_eq!(
                code(parse(&[("MAIL_CHANNEL", "ses"), ("MAIL_FROM", bad)])),
                "mail_from_invalid",
                "{bad}"
            );
        }
        assert_eq!(
            code(parse(&[("MAIL_CHANNEL", "smtp"), ("MAIL_FROM", "a@b.org")])),
            "smtp_url_missing"
        );
    }

    #[test]
    fn smtp_urls_pick_the_protection_and_port_and_keep_the_password_secret() {
        let s = |url: &str| match parse(&[
            ("MAIL_CHANNEL", "smtp"),
            ("MAIL_FROM", "a@b.org"),
            ("SMTP_URL", url),
        ])
        .unwrap()
        .channel
        {
            MailChannel::Smtp(s) => s,
            other => panic!("{other:?}"),
        };
        let starttls = s("smtp://broker%40example.org:p%3Ass@mail.example.org");
        assert_eq!(starttls.tls, SmtpTls::StartTls);
        assert_eq!(starttls.port, 587);
        assert_eq!(starttls.host, "mail.example.org");
        assert_eq!(starttls.username.as_deref(), Some("broker@example.org"));
        assert_eq!(starttls.password.as_ref().map(Secret::expose), Some("p:ss"));
        assert!(!format!("{starttls:?}").contains("p:ss"));
        let implicit = s("smtps://mail.example.org");
        assert_eq!((implicit.tls, implicit.port), (SmtpTls::Implicit, 465));
        assert_eq!(implicit.username, None);
        let catcher = s("smtp://localhost:1025?tls=none");
        assert_eq!((catcher.tls, catcher.port), (SmtpTls::None, 1025));
        assert_eq!(s("smtp://u:p@127.0.0.1:1025?tls=none").tls, SmtpTls::None);
    }

    #[test]
    fn unusable_smtp_urls_are_refused_without_echoing_them() {
        let e = |url: &str| {
            parse(&[
                ("MAIL_CHANNEL", "smtp"),
                ("MAIL_FROM", "a@b.org"),
                ("SMTP_URL", url),
            ])
            .unwrap_err()
            .0
        };
        for bad in [
            "not a url hunter2",
            "http://u:hunter2@mail.example.org",
            "smtps://u:hunter2@mail.example.org?tls=none",
            "smtp://u:hunter2@mail.example.org?tls=maybe",
            "smtp://:hunter2@mail.example.org",
        ] {
            let err = e(bad);
            assert!(err.starts_with("smtp_url_invalid: "), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = e("smtp://u:hunter2@mail.example.org?tls=none");
        assert!(err.starts_with("smtp_plaintext_credentials: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

//! The text of an approval notice and of a usage alert, the same on every
//! channel (plain text with the links; no secrets), with what the applicant
//! typed (and what the portal or reconciliation reported) escaped for the
//! channel's markup; and the applicants' own mail about their request
//! ([`applicant_mail`]: plain text, no links, nothing secret).

use super::mail::{ApplicantEvent, ApplicantNotice, Invitation, Mail};
use super::{AlertNotice, ApprovalNotice};
use crate::domain::alert::percent;
use crate::domain::{AlertSubject, Crossing};

/// How many of a drift's differences an alert lists.
pub const DRIFT_EXAMPLES: usize = 10;

/// How the channel reading a notice renders its text: what the applicant
/// typed (name, e-mail, organization) is escaped for it, so a name like
/// `<https://evil|Approve>` or `<!channel>` stays text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    /// Plain text (e-mail through SNS, the log).
    Plain,
    /// Slack `mrkdwn`: `&`, `<`, `>` are control characters (links,
    /// mentions such as `<!channel>`); Slack's own advice is to escape
    /// them as HTML entities.
    Slack,
    /// Microsoft Teams incoming webhooks (Markdown, with HTML tags):
    /// Markdown's punctuation is backslash-escaped and `<`, `>` become
    /// entities, so `[Approve](https://evil)` stays text.
    Teams,
}

impl Markup {
    /// The markup of the channel behind an incoming-webhook URL: Slack's
    /// and Teams' (Office 365 connectors, Power Automate workflows) hosts;
    /// any other is treated as Slack-compatible (Mattermost, Rocket.Chat
    /// take Slack's format).
    pub fn of_webhook(url: &str) -> Markup {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let teams = host.ends_with(".webhook.office.com")
            || host == "outlook.office.com"
            || host.ends_with(".logic.azure.com")
            || host.ends_with(".powerplatform.com");
        if teams { Markup::Teams } else { Markup::Slack }
    }

    /// `text` (typed by an applicant) made inert for this markup.
    pub fn escape(self, text: &str) -> String {
        match self {
            Markup::Plain => text.to_string(),
            Markup::Slack => text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            Markup::Teams => {
                let mut out = String::with_capacity(text.len());
                for c in text.chars() {
                    match c {
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '&' => out.push_str("&amp;"),
                        '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+'
                        | '-' | '.' | '!' | '|' | '~' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c => out.push(c),
                    }
                }
                out
            }
        }
    }
}

/// The message approvers read (plain text with the links; no secrets).
pub fn message(n: &ApprovalNotice) -> String {
    message_for(n, Markup::Plain)
}

/// [`message`] for a channel with `markup`: the applicant's fields escaped.
pub fn message_for(n: &ApprovalNotice, markup: Markup) -> String {
    let r = &n.request;
    let esc = |t: &str| markup.escape(t);
    let name = [r.first_name.as_deref(), r.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(esc)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "Access request for pool {pool}: {name}{sep}{email}{org}\nGets: role {role}, user type {ut}{groups}\nSeats left in {pool}: {left}\nRequest {id} expires at {exp} (UTC).",
        pool = r.pool,
        name = name,
        sep = if name.is_empty() { "" } else { " " },
        email = esc(&format!("<{}>", r.email)),
        org = r
            .organization
            .as_deref()
            .map(|o| format!(" ({})", esc(o)))
            .unwrap_or_default(),
        role = r.role,
        ut = r.user_type,
        groups = if r.groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", r.groups.join(", "))
        },
        left = n.seats_left,
        id = r.id,
        exp = utc(r.expires_at),
    );
    if let (Some(a), Some(d)) = (&n.approve_url, &n.deny_url) {
        text.push_str(&format!("\nApprove: {a}\nDeny: {d}"));
    }
    if let Some(admin) = &n.admin_url {
        text.push_str(&format!("\nAll requests: {admin}"));
    }
    text
}

/// The text of a usage alert for a channel with `markup`, one line (a
/// drift alert adds its examples, one per line):
///
/// - `Pool acme is at 96 % (48 of 50 seats) — crossed 95 %`
/// - `User type creatorUT is at 100 % (20 of 20 licences) — crossed 100 %`
/// - `Pool acme is back under 80 % (39 of 50 seats)`
/// - `Reconciliation found drift: 3 differences between the ledger and the organization`
pub fn alert_message(n: &AlertNotice, markup: Markup) -> String {
    match n {
        AlertNotice::Usage {
            subject,
            used,
            seats,
            crossing,
        } => {
            let (what, unit) = match subject {
                AlertSubject::Pool(p) => (format!("Pool {p}"), "seats"),
                AlertSubject::UserType(t) => (
                    format!("User type {}", markup.escape(t.as_str())),
                    "licences",
                ),
                AlertSubject::Reconciliation => ("Reconciliation".to_string(), "items"),
            };
            let pct = percent(*used, *seats).unwrap_or(0);
            match crossing {
                Crossing::Up(t) => {
                    format!("{what} is at {pct} % ({used} of {seats} {unit}) — crossed {t} %")
                }
                Crossing::Down(t) => {
                    format!("{what} is back under {t} % ({used} of {seats} {unit})")
                }
            }
        }
        AlertNotice::Drift {
            differences,
            examples,
        } => {
            let mut text = format!(
                "Reconciliation found drift: {differences} difference{} between the ledger and the organization",
                if *differences == 1 { "" } else { "s" }
            );
            for e in examples.iter().take(DRIFT_EXAMPLES) {
                text.push_str("\n- ");
                text.push_str(&markup.escape(e));
            }
            if examples.len() > DRIFT_EXAMPLES {
                text.push_str(&format!("\n… and {} more", examples.len() - DRIFT_EXAMPLES));
            }
            text
        }
        AlertNotice::DriftResolved => {
            "Reconciliation found no drift any more: the ledger and the organization agree"
                .to_string()
        }
    }
}

/// A short title for a usage alert (an e-mail subject).
pub fn alert_title(n: &AlertNotice) -> String {
    match n {
        AlertNotice::Usage {
            subject: AlertSubject::Pool(p),
            ..
        } => format!("Seat alert: pool {p}"),
        AlertNotice::Usage {
            subject: AlertSubject::UserType(t),
            ..
        } => format!("Seat alert: user type {t}"),
        AlertNotice::Usage { .. } | AlertNotice::Drift { .. } | AlertNotice::DriftResolved => {
            "Seat alert: reconciliation".to_string()
        }
    }
}

/// The mail telling an applicant (at `to`) what became of their request:
/// a subject naming the pool and the outcome, a greeting, what happened and
/// what comes next, and the request's id as the reference. Plain text with
/// no link (the invitation or password link comes from ArcGIS Online
/// itself) and nothing secret; what the applicant typed (their name) and
/// the approver's reason are stripped of control characters, so neither
/// can break the layout.
pub fn applicant_mail(to: &str, n: &ApplicantNotice) -> Mail {
    let pool = &n.pool;
    let access = format!("your request for ArcGIS Online access ({pool})");
    let (subject, what) = match &n.event {
        ApplicantEvent::Approved { invitation } => (
            format!("Your ArcGIS Online access request for {pool} is approved"),
            format!(
                "{} has been approved.\n\n{}",
                capitalised(&access),
                match invitation {
                    Invitation::Email => {
                        "An invitation from ArcGIS Online follows in a separate e-mail: accept it to set your password and sign in."
                    }
                    Invitation::SingleSignOn => {
                        "Your account is being created for your organization's sign-in: sign in to ArcGIS with your organization's account (the same e-mail address) once it is ready. No password is sent."
                    }
                    Invitation::PasswordReset => {
                        "Your account is being created. ArcGIS Online will send you a separate e-mail with a link to choose your password: follow it to sign in."
                    }
                }
            ),
        ),
        ApplicantEvent::Denied { reason } => (
            format!("Your ArcGIS Online access request for {pool} was not approved"),
            match reason
                .as_deref()
                .map(one_paragraph)
                .filter(|r| !r.is_empty())
            {
                Some(r) => format!(
                    "{} was not approved.\n\nThe reason given: {r}",
                    capitalised(&access)
                ),
                None => format!("{} was not approved.", capitalised(&access)),
            },
        ),
        ApplicantEvent::Waitlisted { position, until } => (
            format!("You are on the waiting list for {pool}"),
            format!(
                "All seats of {pool} are taken, so {access} is on the waiting list.\n\n{}\nWe will write again when a seat frees for you. If none does by {} (UTC), the request lapses.",
                match position {
                    0 => format!("You are in line for {pool}."),
                    n => format!("You are number {n} in line for {pool}."),
                },
                utc(*until)
            ),
        ),
        ApplicantEvent::AwaitingApproval { until } => (
            format!("A seat in {pool} is free: your request is with the approvers"),
            format!(
                "A seat in {pool} has become free, and {access} has left the waiting list. It now waits for an approver's decision, which we will send you.\nIf nobody decides by {} (UTC), the request lapses.",
                utc(*until)
            ),
        ),
        ApplicantEvent::Expired { waitlisted } => (
            format!("Your ArcGIS Online access request for {pool} has lapsed"),
            format!(
                "{} has lapsed: {}\n\nYou are welcome to sign up again.",
                capitalised(&access),
                if *waitlisted {
                    "no seat became free in time."
                } else {
                    "it was not decided in time."
                }
            ),
        ),
    };
    let greeting = match n.first_name.as_deref().map(one_paragraph) {
        Some(name) if !name.is_empty() => format!("Hello {name},"),
        _ => "Hello,".to_string(),
    };
    Mail {
        to: to.to_string(),
        subject,
        text: format!(
            "{greeting}\n\n{what}\n\nReference: request {id}\n\nThis is an automatic message about your access request.\n",
            id = n.request_id
        ),
    }
}

fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `text` on one line: control characters (line breaks included) become
/// spaces, runs of blanks one space, at most 500 characters.
fn one_paragraph(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(500)
        .collect()
}

pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::domain::date::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_772_443_800_000), "2026-03-02 09:30");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    }

    fn hostile() -> ApprovalNotice {
        use crate::domain::RequestState;
        use crate::notify::RequestView;
        ApprovalNotice {
            request: RequestView {
                id: "r1".into(),
                pool: "review".into(),
                email: "eve@example.org".into(),
                first_name: Some("<https://evil.example|Approve>".into()),
                last_name: Some("[Approve](https://evil.example)".into()),
                organization: Some("<!channel> & <@U0ADMIN>".into()),
                role: "viewer".into(),
                user_type: "viewerUT".into(),
                groups: Vec::new(),
                created_at: 0,
                expires_at: 0,
                state: RequestState::Pending,
                holds_seat: true,
                position: None,
            },
            seats_left: 1,
            approve_url: Some(
                "https://broker.example/approvals/r1/link?decision=approve&sig=x".into(),
            ),
            deny_url: Some("https://broker.example/approvals/r1/link?decision=deny&sig=y".into()),
            admin_url: None,
        }
    }

    /// Issue 13: applicant names and organizations went unescaped into
    /// Slack/Teams text (`<https://evil|Approve>`, `<!channel>`).
    #[test]
    fn what_the_applicant_typed_is_inert_on_slack_and_teams() {
        let n = hostile();
        let slack = message_for(&n, Markup::Slack);
        for live in ["<https://evil", "<!channel>", "<@U0ADMIN>"] {
            assert!(!slack.contains(live), "{live} in {slack}");
        }
        assert!(
            slack.contains("&lt;!channel&gt; &amp; &lt;@U0ADMIN&gt;"),
            "{slack}"
        );
        // Our own links stay links.
        assert!(
            slack.contains(
                "\nApprove: https://broker.example/approvals/r1/link?decision=approve&sig=x"
            ),
            "{slack}"
        );

        let teams = message_for(&n, Markup::Teams);
        assert!(!teams.contains("[Approve](https://evil"), "{teams}");
        assert!(
            teams.contains("\\[Approve\\]\\(https://evil\\.example\\)"),
            "{teams}"
        );
        assert!(!teams.contains("<!channel>"), "{teams}");
        // Plain text (e-mail, the log) keeps the text as typed.
        assert!(message(&n).contains("<!channel>"));
    }

    #[test]
    fn alerts_read_as_one_line_per_crossing() {
        use crate::domain::{PoolId, UserTypeId};
        let pool = AlertSubject::Pool(PoolId::parse("acme").unwrap());
        let up = AlertNotice::Usage {
            subject: pool.clone(),
            used: 48,
            seats: 50,
            crossing: Crossing::Up(95),
        };
        assert_eq!(
            alert_message(&up, Markup::Plain),
            "Pool acme is at 96 % (48 of 50 seats) — crossed 95 %"
        );
        assert_eq!(alert_title(&up), "Seat alert: pool acme");
        let down = AlertNotice::Usage {
            subject: pool,
            used: 39,
            seats: 50,
            crossing: Crossing::Down(80),
        };
        assert_eq!(
            alert_message(&down, Markup::Plain),
            "Pool acme is back under 80 % (39 of 50 seats)"
        );
        let ut = AlertNotice::Usage {
            subject: AlertSubject::UserType(UserTypeId::parse("creatorUT").unwrap()),
            used: 20,
            seats: 20,
            crossing: Crossing::Up(100),
        };
        assert_eq!(
            alert_message(&ut, Markup::Plain),
            "User type creatorUT is at 100 % (20 of 20 licences) — crossed 100 %"
        );
        let drift = AlertNotice::Drift {
            differences: 12,
            examples: (0..12).map(|i| format!("<!channel> member_{i}")).collect(),
        };
        let text = alert_message(&drift, Markup::Slack);
        assert!(text.starts_with(
            "Reconciliation found drift: 12 differences between the ledger and the organization\n- &lt;!channel&gt; member_0"
        ));
        assert!(text.ends_with("\n… and 2 more"), "{text}");
        assert!(!text.contains("<!channel>"));
        assert_eq!(
            alert_message(
                &AlertNotice::Drift {
                    differences: 1,
                    examples: vec![]
                },
                Markup::Plain
            ),
            "Reconciliation found drift: 1 difference between the ledger and the organization"
        );
    }

    fn notice(event: ApplicantEvent) -> ApplicantNotice {
        ApplicantNotice {
            request_id: "r-01".into(),
            pool: "water-board".into(),
            first_name: Some("Ana".into()),
            event,
        }
    }

    #[test]
    fn an_approved_applicant_is_told_what_arcgis_online_sends_next() {
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Approved {
                invitation: Invitation::Email,
            }),
        );
        assert_eq!(m.to, "ana@acme.org");
        assert_eq!(
            m.subject,
            "Your ArcGIS Online access request for water-board is approved"
        );
        assert_eq!(
            m.text,
            "Hello Ana,\n\nYour request for ArcGIS Online access (water-board) has been approved.\n\n\
             An invitation from ArcGIS Online follows in a separate e-mail: accept it to set your password and sign in.\n\n\
             Reference: request r-01\n\nThis is an automatic message about your access request.\n"
        );
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Approved {
                invitation: Invitation::PasswordReset,
            }),
        );
        assert!(
            m.text.contains(
                "ArcGIS Online will send you a separate e-mail with a link to choose your password"
            ),
            "{}",
            m.text
        );
        assert!(!m.text.contains("http"), "no links: {}", m.text);
    }

    #[test]
    fn a_denial_quotes_the_reason_on_one_line_and_a_missing_one_is_left_out() {
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Denied {
                reason: Some("Not a partner\r\nBcc: x@evil.example".into()),
            }),
        );
        assert_eq!(
            m.subject,
            "Your ArcGIS Online access request for water-board was not approved"
        );
        assert!(
            m.text.contains(
                "Your request for ArcGIS Online access (water-board) was not approved.\n\nThe reason given: Not a partner Bcc: x@evil.example\n"
            ),
            "{}",
            m.text
        );
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Denied { reason: None }),
        );
        assert!(!m.text.contains("reason"), "{}", m.text);
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Denied {
                reason: Some("  ".into()),
            }),
        );
        assert!(!m.text.contains("reason"), "{}", m.text);
    }

    #[test]
    fn a_waitlisted_applicant_learns_their_place_and_the_deadline() {
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Waitlisted {
                position: 3,
                until: 1_772_443_800_000,
            }),
        );
        assert_eq!(m.subject, "You are on the waiting list for water-board");
        assert!(
            m.text.contains("You are number 3 in line for water-board."),
            "{}",
            m.text
        );
        assert!(m.text.contains("2026-03-02 09:30 (UTC)"), "{}", m.text);
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Waitlisted {
                position: 0,
                until: 0,
            }),
        );
        assert!(
            m.text.contains("You are in line for water-board."),
            "{}",
            m.text
        );
    }

    #[test]
    fn admission_to_approval_and_expiry_read_as_such() {
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::AwaitingApproval { until: 0 }),
        );
        assert_eq!(
            m.subject,
            "A seat in water-board is free: your request is with the approvers"
        );
        assert!(
            m.text.contains("waits for an approver's decision"),
            "{}",
            m.text
        );
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Expired { waitlisted: true }),
        );
        assert_eq!(
            m.subject,
            "Your ArcGIS Online access request for water-board has lapsed"
        );
        assert!(m.text.contains("no seat became free in time"), "{}", m.text);
        let m = applicant_mail(
            "ana@acme.org",
            &notice(ApplicantEvent::Expired { waitlisted: false }),
        );
        assert!(m.text.contains("it was not decided in time"), "{}", m.text);
    }

    #[test]
    fn a_name_with_line_breaks_stays_in_the_greeting() {
        let mut n = notice(ApplicantEvent::Expired { waitlisted: false });
        n.first_name = Some("Ana\r\n\r\nClick here".into());
        assert!(
            applicant_mail("a@b.org", &n)
                .text
                .starts_with("Hello Ana Click here,\n\n")
        );
        n.first_name = None;
        assert!(applicant_mail("a@b.org", &n).text.starts_with("Hello,\n\n"));
    }

    #[test]
    fn the_markup_follows_the_webhooks_host() {
        assert_eq!(
            Markup::of_webhook("https://hooks.slack.com/services/T/B/X"),
            Markup::Slack
        );
        assert_eq!(
            Markup::of_webhook("https://contoso.webhook.office.com/webhookb2/abc"),
            Markup::Teams
        );
        assert_eq!(
            Markup::of_webhook("https://prod-01.westus.logic.azure.com/workflows/x"),
            Markup::Teams
        );
        assert_eq!(Markup::of_webhook("not a url"), Markup::Slack);
    }
}

//! [`SmtpMailer`] against a tiny SMTP server in the test: enough of RFC 5321
//! (greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to see what arrives.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// What one SMTP session received.
#[derive(Debug, Default, Clone)]
struct Session {
    ehlo: bool,
    auth: Option<String>,
    mail_from: Option<String>,
    rcpt: Vec<String>,
    data: Option<String>,
    quit: bool,
}

/// How the server behaves.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Offers `STARTTLS` in its EHLO answer (it cannot actually do it).
    starttls: bool,
    /// Refuses every recipient with 550, quoting the address.
    refuse_rcpt: bool,
}

/// Serves SMTP sessions on loopback until the test ends; each session's
/// record lands in the returned list.
async fn server(b: Behaviour) -> (u16, Arc<Mutex<Vec<Session>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let seen = sessions.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut s = Session::default();
                let _ = write.write_all(b"220 test.local ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: String = if upper.starts_with("EHLO") {
                        s.ehlo = true;
                        let tls = if b.starttls { "250-STARTTLS\r\n" } else { "" };
                        format!("250-test.local\r\n{tls}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                    } else if upper.starts_with("AUTH PLAIN ") {
                        s.auth = Some(line[11..].to_string());
                        "235 2.7.0 ok\r\n".into()
                    } else if upper.starts_with("MAIL FROM:") {
                        s.mail_from = Some(line[10..].to_string());
                        "250 ok\r\n".into()
                    } else if upper.starts_with("RCPT TO:") {
                        let to = line[8..].to_string();
                        s.rcpt.push(to.clone());
                        if b.refuse_rcpt {
                            format!("550 5.1.1 {to}: no such user here\r\n")
                        } else {
                            "250 ok\r\n".into()
                        }
                    } else if upper == "DATA" {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        s.data = Some(data);
                        "250 queued\r\n".into()
                    } else if upper == "QUIT" {
                        s.quit = true;
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else if upper == "RSET" || upper == "NOOP" {
                        "250 ok\r\n".into()
                    } else {
                        "502 not implemented\r\n".into()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
                seen.lock().unwrap().push(s);
            });
        }
    });
    (port, sessions)
}

fn settings(port: u16, tls: SmtpTls, user: Option<&str>) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls,
        username: user.map(str::to_string),
        password: None,
    }
}

fn mail() -> Mail {
    Mail {
        to: "ana.lopez@acme.org".into(),
        subject: "Your ArcGIS Online access request for acme is approved".into(),
        text: "Hello Ana,\n\nYour request is approved.\n".into(),
    }
}

/// Waits for the server to record the session (it does so after `QUIT` or
/// the client's hang-up).
async fn sessions(seen: &Arc<Mutex<Vec<Session>>>, n: usize) -> Vec<Session> {
    for _ in 0..200 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn a_mail_arrives_with_its_headers_and_the_credentials_from_the_secret() {
    let (port, seen) = server(Behaviour {
        starttls: false,
        refuse_rcpt: false,
    })
    .await;
    let mailer = SmtpMailer::new(
        &settings(port, SmtpTls::None, Some("broker")),
        "Seats <noreply@example.org>",
        Some(&Secret::new("s3cret-pass")),
    )
    .unwrap();
    mailer.send(&mail()).await.unwrap();

    let got = sessions(&seen, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let s = &got[0];
    assert!(s.ehlo && s.quit, "{s:?}");
    let auth = base64::engine::general_purpose::STANDARD
        .decode(s.auth.as_deref().unwrap_or_default())
        .unwrap();
    assert_eq!(auth, b"\0broker\0s3cret-pass");
    assert_eq!(s.mail_from.as_deref(), Some("<noreply@example.org>"));
    assert_eq!(s.rcpt, vec!["<ana.lopez@acme.org>".to_string()]);
    let data = s.data.as_deref().unwrap_or_default();
    let (headers, body) = data.split_once("\n\n").unwrap_or_default();
    for h in [
        "From: Seats <noreply@example.org>",
        "To: ana.lopez@acme.org",
        "Subject: Your ArcGIS Online access request for acme is approved",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(headers.lines().any(|l| l == h), "{h} in\n{headers}");
    }
    assert!(
        headers.lines().any(|l| l.starts_with("Date: ")),
        "{headers}"
    );
    // (The end of DATA adds a line break of its own.)
    assert_eq!(body.trim_end(), "Hello Ana,\n\nYour request is approved.");
}

#[tokio::test]
async fn starttls_is_required_so_a_server_without_it_gets_no_credentials_and_no_mail() {
    let (port, seen) = server(Behaviour {
        starttls: false,
        refuse_rcpt: false,
    })
    .await;
    let mailer = SmtpMailer::new(
        &settings(port, SmtpTls::StartTls, Some("broker")),
        "noreply@example.org",
        Some(&Secret::new("s3cret-pass")),
    )
    .unwrap();
    let err = mailer.send(&mail()).await.unwrap_err();
    assert!(!err.0.contains("s3cret-pass"), "{err}");
    let got = sessions(&seen, 1).await;
    assert!(
        got.iter()
            .all(|s| s.auth.is_none() && s.mail_from.is_none() && s.data.is_none()),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_refusal_is_an_error_naming_the_reply_with_the_address_masked() {
    let (port, _seen) = server(Behaviour {
        starttls: false,
        refuse_rcpt: true,
    })
    .await;
    let mailer = SmtpMailer::new(
        &settings(port, SmtpTls::None, None),
        "noreply@example.org",
        None,
    )
    .unwrap();
    let err = mailer.send(&mail()).await.unwrap_err().0;
    assert!(err.contains("550"), "{err}");
    assert!(err.contains("a***@acme.org"), "{err}");
    assert!(!err.contains("ana.lopez"), "{err}");
}

#[test]
fn a_user_without_a_password_or_a_bad_sender_is_refused_at_start() {
    let e = SmtpMailer::new(
        &settings(25, SmtpTls::StartTls, Some("broker")),
        "noreply@example.org",
        None,
    )
    .err()
    .unwrap_or_default();
    assert!(e.starts_with("smtp_password_missing: "), "{e}");
    let e = SmtpMailer::new(
        &settings(25, SmtpTls::StartTls, None),
        "not an address",
        None,
    )
    .err()
    .unwrap_or_default();
    assert!(e.starts_with("mail_from_invalid: "), "{e}");
}

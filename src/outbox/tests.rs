//! The SMTP client against a scripted server, and the per-recipient order.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use super::smtp::*;
use super::*;
use crate::config::Security;

/// What the scripted server does with the n-th mail of a connection.
#[derive(Clone, Copy)]
enum Script {
    /// Accept `per_connection` mails, then answer the next MAIL with 421
    /// and close (Exim's smtp_accept_max_per_connection).
    Limit { per_connection: usize },
    /// Read the content of the first mail, then close without an answer.
    DropAfterContent,
    /// At most this many connections at once (another gets a 421
    /// greeting); each mail takes 100 ms to accept.
    MaxConnections(usize),
    /// RCPT TO this address gets a 451 (a deferred recipient); each mail
    /// takes 100 ms to accept.
    DeferRecipient(&'static str),
}

/// A scripted SMTP server on loopback: counts connections and accepted mails.
async fn server(script: Script) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (conns, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, a) = (conns.clone(), accepted.clone());
    let live = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            if let Script::MaxConnections(max) = script
                && live.load(Ordering::SeqCst) >= max
            {
                let _ = sock.write_all(b"421 too many connections\r\n").await;
                continue;
            }
            let a = a.clone();
            let live = live.clone();
            live.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
                let _live = scopeguard(live);
                let mut mails = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-scripted\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("MAIL") {
                        if let Script::Limit { per_connection } = script
                            && mails == per_connection
                        {
                            let _ = w.write_all(b"421 too many messages in one connection\r\n").await;
                            return;
                        }
                        b"250 OK\r\n"
                    } else if let Script::DeferRecipient(addr) = script
                        && cmd.starts_with("RCPT")
                        && cmd.contains(&addr.to_ascii_uppercase())
                    {
                        b"451 4.3.0 deferred\r\n"
                    } else if cmd.starts_with("RCPT") || cmd.starts_with("NOOP") || cmd.starts_with("RSET") {
                        b"250 OK\r\n"
                    } else if cmd == "DATA" {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                        }
                        match script {
                            Script::DropAfterContent => return,
                            Script::MaxConnections(_) | Script::DeferRecipient(_) => {
                                tokio::time::sleep(Duration::from_millis(100)).await
                            }
                            Script::Limit { .. } => {}
                        }
                        mails += 1;
                        a.fetch_add(1, Ordering::SeqCst);
                        b"250 OK queued\r\n"
                    } else if cmd == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"500 what\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, conns, accepted)
}

/// Counts a connection down when its task ends.
struct Live(Arc<AtomicUsize>);
impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
fn scopeguard(live: Arc<AtomicUsize>) -> Live {
    Live(live)
}

fn cfg(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        ca_file: None,
        auth: crate::config::AuthMethod::Password,
        user: None,
        password: None,
        from: "Team <security@example.test>".parse().unwrap(),
        timeout_secs: 5,
        retry_max_secs: 2,
        copy_to_self: false,
        in_doubt_grace_secs: 600,
        connections: 2,
    }
}

fn envelope() -> Envelope {
    Envelope::new(None, vec!["r@example.test".parse().unwrap()]).unwrap()
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_costs_no_retry() {
    let (port, conns, accepted) = server(Script::Limit { per_connection: 2 }).await;
    let t = transport(&cfg(port), None).unwrap();
    for i in 0..5 {
        let r = t
            .send_raw(&envelope(), format!("Subject: {i}\r\n\r\nack\r\n").as_bytes())
            .await;
        assert!(r.is_ok(), "mail {i}: {r:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
    assert_eq!(
        conns.load(Ordering::SeqCst),
        3,
        "a new connection after every two mails"
    );
}

#[tokio::test]
async fn a_failure_after_the_content_is_not_sent_again_at_once() {
    let (port, conns, _) = server(Script::DropAfterContent).await;
    let t = transport(&cfg(port), None).unwrap();
    for raw in [&b"Subject: x\r\n\r\nack\r\n"[..], b"Subject: y\r\n\r\nack\r\n"] {
        let r = t.send_raw(&envelope(), raw).await;
        assert!(matches!(r, Err(SendError::Temporary(_))), "{r:?}");
    }
    // Two sends, two connections: neither was repeated on a new one (the
    // server may have taken it; the outbox leaves it in doubt).
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_server_that_takes_fewer_connections_lowers_the_concurrency() {
    let (port, _, accepted) = server(Script::MaxConnections(2)).await;
    let mut c = cfg(port);
    c.connections = 4;
    let t = transport(&c, None).unwrap();
    assert_eq!(t.concurrency(), 4);
    let env = envelope();
    let send = |delay: u64, raw: &'static [u8]| {
        let (t, env) = (&t, &env);
        async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            t.send_raw(env, raw).await
        }
    };
    let (a, b, d) = tokio::join!(
        send(0, b"Subject: a\r\n\r\nack\r\n"),
        send(20, b"Subject: b\r\n\r\nack\r\n"),
        send(40, b"Subject: c\r\n\r\nack\r\n"),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert!(matches!(d, Err(SendError::Temporary(_))), "{d:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(
        t.concurrency(),
        2,
        "two connections were open when the third was refused"
    );
}

#[tokio::test]
async fn a_deferred_recipient_does_not_lower_the_concurrency() {
    let (port, _, accepted) = server(Script::DeferRecipient("later@example.test")).await;
    let mut c = cfg(port);
    c.connections = 4;
    let t = transport(&c, None).unwrap();
    let to = |addr: &str| Envelope::new(None, vec![addr.parse().unwrap()]).unwrap();
    let (first, later) = (to("r@example.test"), to("later@example.test"));
    let (ok, deferred) = tokio::join!(t.send_raw(&first, b"Subject: a\r\n\r\nack\r\n"), async {
        // On its own connection while the first is still open.
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.send_raw(&later, b"Subject: b\r\n\r\nack\r\n").await
    });
    assert!(ok.is_ok(), "{ok:?}");
    assert!(matches!(deferred, Err(SendError::Temporary(_))), "{deferred:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(
        t.concurrency(),
        4,
        "one recipient's 4xx says nothing about the server's connections"
    );
}

#[test]
fn mails_to_one_address_stay_in_order_in_one_queue() {
    let item = |id: i64, to: &str| OutboxItem {
        id,
        report_id: None,
        kind: crate::store::MailKind::Ack,
        recipient: to.into(),
        envelope_from: String::new(),
        message_id: format!("<{id}@x>"),
        raw: vec![],
        attempts: 0,
        in_doubt: false,
    };
    let groups = by_recipient(vec![
        item(1, "a@x.test"),
        item(2, "b@x.test"),
        item(3, "A+tag@x.test"),
        item(4, "c@x.test"),
        item(5, "b@x.test"),
    ]);
    let ids: Vec<Vec<i64>> = groups.iter().map(|g| g.iter().map(|i| i.id).collect()).collect();
    assert_eq!(ids, vec![vec![1, 3], vec![2, 5], vec![4]]);
}

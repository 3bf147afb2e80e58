//! The Matrix room's decisions, in process: which mail queues a post (in
//! the report's own transaction), reminders and overdue posts once each,
//! operational alerts once per episode, and what each room command does to
//! a report. The homeserver's side (delivery, encryption, who may command)
//! is in `tests/it/matrix.rs` against Synapse.

use embargo::matrix::command;
use embargo::store::{MATRIX_CHANNEL, Post, PostKind};
use jiff::{SignedDuration, Timestamp};

use crate::report;
use crate::world::*;

const ROOM: &str = "\n[matrix]\nhomeserver = \"http://127.0.0.1:9\"\nuser_id = \"@bot:localhost\"\n\
    password_file = \"matrix.pass\"\nroom = \"!room:localhost\"\noperators = [\"@alice:localhost\"]\n";

fn world() -> World {
    World::with_files(ROOM, &[("matrix.pass", b"botpw\n")])
}

fn posts(w: &World) -> Vec<Post> {
    w.store
        .posts_due(
            MATRIX_CHANNEL,
            Timestamp::now() + SignedDuration::from_hours(24 * 400),
            1000,
        )
        .unwrap()
}

fn of_kind(w: &World, kind: PostKind) -> Vec<Post> {
    posts(w).into_iter().filter(|p| p.kind == kind).collect()
}

#[test]
fn a_new_report_queues_its_post_and_excluded_or_team_mail_none() {
    let mut w = world();
    w.deliver(
        RESEARCHER,
        &report("r1@example.test", "XSS in the login form", "Steps: ..."),
    );
    let id = w.report("XSS in the login form")["id"].as_str().unwrap().to_owned();
    let new = of_kind(&w, PostKind::NewReport);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].report.as_deref(), Some(id.as_str()));
    // An excluded topic (SPF/DMARC) gets no post.
    w.deliver(
        RESEARCHER,
        &report(
            "r2@example.test",
            "Missing DMARC record",
            "Your domain has no DMARC policy (p=none) and SPF is soft.",
        ),
    );
    assert_eq!(of_kind(&w, PostKind::NewReport).len(), 1);
    // Without [matrix] nothing is queued.
    let mut plain = World::new();
    plain.deliver(RESEARCHER, &report("r3@example.test", "SQL injection", "Steps"));
    assert!(posts(&plain).is_empty());
}

#[test]
fn a_reminder_comes_a_business_day_before_the_deadline_and_overdue_once() {
    let mut w = world();
    w.deliver(RESEARCHER, &report("r1@example.test", "RCE in the upload", "Steps"));
    let r = w.report("RCE in the upload");
    let received: Timestamp = r["received_at"].as_str().unwrap().parse().unwrap();
    let cal = w.cfg.policy.calendar.clone();
    let due = cal.add_business_days(received, w.cfg.policy.promises.response_business_days);
    let tick = |w: &mut World, at: Timestamp| embargo::matrix::watch::tick(&mut w.store, &w.cfg, at).unwrap();
    tick(&mut w, cal.add_business_days(received, 2));
    assert!(of_kind(&w, PostKind::Reminder).is_empty(), "too early");
    let day_before = due - SignedDuration::from_hours(2);
    tick(&mut w, day_before);
    tick(&mut w, day_before + SignedDuration::from_mins(30));
    assert_eq!(of_kind(&w, PostKind::Reminder).len(), 1, "once");
    tick(&mut w, due + SignedDuration::from_hours(1));
    tick(&mut w, due + SignedDuration::from_hours(30));
    let overdue = of_kind(&w, PostKind::Overdue);
    assert_eq!(overdue.len(), 1, "once");
    assert_eq!(overdue[0].body, "response");
    // Once the team responds, no more reminders for it.
    let id = r["id"].as_str().unwrap();
    w.store
        .set_state(id, "triaged".parse().unwrap(), "", "cli:test")
        .unwrap();
    tick(&mut w, due + SignedDuration::from_hours(60));
    assert_eq!(of_kind(&w, PostKind::Overdue).len(), 1);
}

#[test]
fn an_operational_alert_is_posted_once_per_episode() {
    let mut w = world();
    let now = Timestamp::now();
    let alerts = |w: &World| of_kind(w, PostKind::Alert);
    w.store.status_started(1, "test").unwrap();
    w.store
        .status_imap("paused (database not writable)", Some("disk full"))
        .unwrap();
    embargo::matrix::watch::tick(&mut w.store, &w.cfg, now).unwrap();
    embargo::matrix::watch::tick(&mut w.store, &w.cfg, now).unwrap();
    assert_eq!(alerts(&w).len(), 1);
    assert!(alerts(&w)[0].body.contains("disk full"), "{}", alerts(&w)[0].body);
    w.store.status_imap("connected", None).unwrap();
    embargo::matrix::watch::tick(&mut w.store, &w.cfg, now).unwrap();
    w.store
        .status_imap("paused (database not writable)", Some("disk full again"))
        .unwrap();
    embargo::matrix::watch::tick(&mut w.store, &w.cfg, now).unwrap();
    assert_eq!(alerts(&w).len(), 2, "a new episode");
}

#[test]
fn room_commands_change_the_report_as_the_cli_would() {
    let mut w = world();
    w.deliver(RESEARCHER, &report("r1@example.test", "CSRF on settings", "Steps"));
    let id = w.report("CSRF on settings")["id"].as_str().unwrap().to_owned();
    let actor = "matrix:@alice:localhost";
    let run = |w: &mut World, text: &str| {
        let cmd = command::parse(text).unwrap().unwrap();
        let p = &w.p;
        w.store.atomic(|s| command::execute(s, p, &cmd, actor))
    };
    let o = run(&mut w, &format!("!embargo state {id} triaged --note \"reproduced\"")).unwrap();
    assert!(o.answer.contains("new -> triaged"), "{}", o.answer);
    run(&mut w, &format!("!embargo complex {id}")).unwrap();
    run(
        &mut w,
        &format!("!embargo credit {id} --name \"Rita R\" --url https://rita.example"),
    )
    .unwrap();
    let too_late = run(&mut w, &format!("!embargo disclose-on {id} 2031-01-01")).unwrap_err();
    assert!(
        format!("{too_late:#}").contains("beyond the policy's limit"),
        "{too_late:#}"
    );
    let o = run(&mut w, &format!("!embargo reply {id}\nThanks, we reproduced it.")).unwrap();
    assert!(
        o.mail && o.answer.contains("reply to researcher@example.test"),
        "{}",
        o.answer
    );
    let show = w.show(&id);
    assert_eq!(show["state"], "triaged");
    assert_eq!(show["complex"], true);
    assert_eq!(show["credit_name"], "Rita R");
    let by_room = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == actor)
        .count();
    assert!(by_room >= 4, "{show:#}");
    // The reply went to the reporter through the outbox.
    w.flush();
    assert!(
        w.inbox(RESEARCHER)
            .iter()
            .any(|m| m.contains("Thanks, we reproduced it.")),
        "the reply reached the reporter"
    );
    // A command about no such report changes nothing and says so.
    let none = run(&mut w, "!embargo state SEC-2099-9999 triaged").unwrap_err();
    assert!(format!("{none:#}").contains("SEC-2099-9999"), "{none:#}");
}

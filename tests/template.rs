//! `template.yaml` against the code's time budget (issue 11, defect 11).
//!
//! Each function's `Timeout`, the `FUNCTION_TIMEOUT_SECS` it is given, its
//! portal deadline (the largest the template's parameter allows), the job
//! queue's visibility timeout and the sweeper's reservation timeout are
//! read from the template and checked with the same functions the
//! functions run at start-up (`config::budget`). Before the fix the worker
//! had 45 s of portal deadline in a 60 s timeout and `PortalDeadlineSeconds`
//! went up to 25 s of the webhook's 29.

use std::time::Duration;

use agol_seat_broker::config::budget::{self, Function, FunctionBudget};
use serde_yaml_ng::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

/// The resource whose build metadata names `binary`.
fn function<'t>(t: &'t Value, binary: &str) -> &'t Value {
    let resources = t["Resources"].as_mapping().expect("Resources");
    resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .unwrap_or_else(|| panic!("no function builds {binary}"))
}

fn secs(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A function's `Timeout`, its own or the template's global one.
fn timeout(t: &Value, f: &Value) -> Duration {
    let own = &f["Properties"]["Timeout"];
    let v = if own.is_null() {
        &t["Globals"]["Function"]["Timeout"]
    } else {
        own
    };
    Duration::from_secs(secs(v).expect("Timeout is a number"))
}

fn env<'t>(f: &'t Value, name: &str) -> &'t Value {
    &f["Properties"]["Environment"]["Variables"][name]
}

/// The longest portal deadline a function can be deployed with: a number,
/// or the `MaxValue` of the parameter it refers to.
fn largest_deadline(t: &Value, f: &Value) -> Duration {
    let v = env(f, "PORTAL_DEADLINE_SECS");
    let s = match v {
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str().expect("!Ref names a parameter");
            let p = &t["Parameters"][name];
            let max = secs(&p["MaxValue"]).unwrap_or_else(|| panic!("{name} has a MaxValue"));
            let default = secs(&p["Default"]).expect("a Default");
            assert!(default <= max, "{name}: Default {default} > MaxValue {max}");
            max
        }
        v => secs(v).expect("PORTAL_DEADLINE_SECS is a number or a !Ref"),
    };
    Duration::from_secs(s)
}

const FUNCTIONS: [(&str, Function); 3] = [
    ("bootstrap-lambda", Function::Webhook),
    ("worker-lambda", Function::Worker),
    ("import-lambda", Function::Import),
];

#[test]
fn every_function_is_told_its_own_timeout_and_it_is_the_one_the_code_assumes() {
    let t = template();
    for (binary, kind) in FUNCTIONS {
        let f = function(&t, binary);
        let timeout = timeout(&t, f);
        assert_eq!(
            secs(env(f, "FUNCTION_TIMEOUT_SECS")).map(Duration::from_secs),
            Some(timeout),
            "{binary}: FUNCTION_TIMEOUT_SECS must be its Timeout"
        );
        assert_eq!(
            timeout,
            kind.timeout(),
            "{binary}: budget::Function::timeout"
        );
    }
}

#[test]
fn every_functions_largest_portal_deadline_ends_with_its_look_up_and_writes_before_its_timeout() {
    let t = template();
    for (binary, kind) in FUNCTIONS {
        let f = function(&t, binary);
        let b = FunctionBudget::new(kind, Some(timeout(&t, f))).unwrap();
        let deadline = largest_deadline(&t, f);
        if let Err(e) = b.check_deadline(deadline) {
            panic!("{binary}: {e}");
        }
    }
    // The webhook's parameter allows exactly what fits, not less.
    let webhook = function(&t, "bootstrap-lambda");
    let b = FunctionBudget::new(Function::Webhook, None).unwrap();
    assert_eq!(largest_deadline(&t, webhook), b.max_deadline());
}

#[test]
fn the_job_queue_waits_six_worker_timeouts_and_the_sweeper_waits_longer() {
    let t = template();
    let worker = function(&t, "worker-lambda");
    let queue = &t["Resources"]["JobQueue"]["Properties"];
    let visibility =
        Duration::from_secs(secs(&queue["VisibilityTimeout"]).expect("VisibilityTimeout"));
    let b = FunctionBudget::new(Function::Worker, Some(timeout(&t, worker))).unwrap();
    if let Err(e) = b.check_visibility(visibility) {
        panic!("{e}");
    }
    let reservation = Duration::from_secs(
        secs(env(worker, "RESERVATION_TIMEOUT_SECS")).expect("RESERVATION_TIMEOUT_SECS"),
    );
    if let Err(e) = budget::check_reservation_timeout(reservation, visibility) {
        panic!("{e}");
    }
}

/// Issue 12, part 3: every function reads its TLS roots from the one
/// bundle file `provided.al2023` keeps (a function's own `SSL_CERT_FILE`
/// or the global one); the cold-start figure in BENCHMARKS.md is measured
/// that way.
#[test]
fn every_function_reads_its_tls_roots_from_the_runtimes_one_bundle_file() {
    let t = template();
    assert_eq!(
        t["Globals"]["Function"]["Runtime"].as_str(),
        Some("provided.al2023"),
        "the bundle path below is provided.al2023's"
    );
    for (binary, _) in FUNCTIONS {
        let f = function(&t, binary);
        let own = env(f, "SSL_CERT_FILE");
        let global = &t["Globals"]["Function"]["Environment"]["Variables"]["SSL_CERT_FILE"];
        let file = if own.is_null() { global } else { own };
        assert_eq!(
            file.as_str(),
            Some("/etc/pki/tls/certs/ca-bundle.crt"),
            "{binary}: SSL_CERT_FILE"
        );
        assert!(
            env(f, "SSL_CERT_DIR").is_null(),
            "{binary}: no SSL_CERT_DIR (a directory is scanned file by file)"
        );
    }
}

/// Issue 13: the dead-letter alarm had no action, no alarm watched the
/// functions' errors or throttles, the webhook function had no reserved
/// concurrency, and any principal allowed `PutObject` could upload an
/// import (which creates members).
#[test]
fn alarms_tell_someone_the_webhook_function_is_bounded_and_only_named_uploaders_write_imports() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .collect();
    for a in &alarms {
        let actions = a["Properties"]["AlarmActions"].as_sequence();
        assert!(
            actions.is_some_and(|s| !s.is_empty()),
            "an alarm without an action: {:?}",
            a["Properties"]["AlarmDescription"]
        );
    }
    let watched = |metric: &str, function: &str| {
        alarms.iter().any(|a| {
            let p = &a["Properties"];
            p["Namespace"].as_str() == Some("AWS/Lambda")
                && p["MetricName"].as_str() == Some(metric)
                && format!("{:?}", p["Dimensions"]).contains(function)
        })
    };
    for function in ["BrokerFunction", "WorkerFunction", "ImportFunction"] {
        for metric in ["Errors", "Throttles"] {
            assert!(watched(metric, function), "no {metric} alarm on {function}");
        }
    }
    let broker = function(&t, "bootstrap-lambda");
    assert!(
        !broker["Properties"]["ReservedConcurrentExecutions"].is_null(),
        "the webhook function has reserved concurrency"
    );
    let policy =
        &t["Resources"]["ImportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"].as_str(), Some("Deny"));
    assert_eq!(policy["Action"].as_str(), Some("s3:PutObject"));
    let text = format!("{policy:?}");
    assert!(
        text.contains("imports/*") && text.contains("ArnNotLike"),
        "{text}"
    );
    assert!(
        text.contains("ImportUploaderArns") && text.contains("ImportFunctionRole"),
        "{text}"
    );
}

/// Issue 14: the dashboard draws exactly the metrics the code writes
/// (`telemetry::emf::METRICS`, in its namespace), every pool found by a
/// SEARCH rather than listed, and its body is valid JSON once CloudFormation
/// has substituted it. A metric added to the code without a graph, or a
/// graph of a metric nobody writes, fails here.
#[test]
fn the_dashboard_draws_every_metric_the_code_writes_and_nothing_else() {
    use agol_seat_broker::telemetry::emf;
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let dashboard = resources
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Dashboard"))
        .expect("a dashboard");
    let body = match &dashboard["Properties"]["DashboardBody"] {
        Value::Tagged(tagged) => tagged.value.as_str().expect("a !Sub string").to_string(),
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    // What !Sub leaves: every ${…} replaced by a plain value.
    let substituted = regex_free_substitute(&body);
    let json: serde_json::Value =
        serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    let mut drawn = std::collections::BTreeSet::new();
    for widget in json["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            if let Some(expr) = row[0]["expression"].as_str() {
                assert!(
                    expr.starts_with(&format!("SEARCH('{{{},", emf::NAMESPACE)),
                    "{expr}"
                );
                let name = expr
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("a MetricName");
                drawn.insert(name.to_string());
            }
        }
    }
    let written: std::collections::BTreeSet<String> =
        emf::METRICS.iter().map(|m| m.to_string()).collect();
    assert_eq!(drawn, written);
}

/// Replaces each `${…}` of a `!Sub` string with `x`.
fn regex_free_substitute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        match rest[at..].find('}') {
            Some(end) => {
                out.push('x');
                rest = &rest[at + end + 1..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Issue 14: the seat's life runs once a day in its own function (the
/// worker's binary with a long timeout), asked with the input the worker
/// recognises, and told its own timeout.
#[test]
fn the_lifecycle_runs_daily_in_its_own_function_with_the_task_the_worker_recognises() {
    let t = template();
    let f = &t["Resources"]["LifecycleFunction"];
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("worker-lambda")
    );
    let timeout = timeout(&t, f);
    assert_eq!(
        secs(env(f, "FUNCTION_TIMEOUT_SECS")).map(Duration::from_secs),
        Some(timeout)
    );
    let b = FunctionBudget::new(Function::Worker, Some(timeout)).unwrap();
    if let Err(e) = b.check_deadline(largest_deadline(&t, f)) {
        panic!("LifecycleFunction: {e}");
    }
    let daily = &f["Properties"]["Events"]["Daily"];
    assert_eq!(daily["Type"].as_str(), Some("Schedule"));
    let input: serde_json::Value =
        serde_json::from_str(daily["Properties"]["Input"].as_str().expect("Input")).unwrap();
    assert_eq!(
        input["task"].as_str(),
        Some(agol_seat_broker::entrypoints::worker::LIFECYCLE_TASK)
    );
    let schedule = &t["Parameters"]["LifecycleSchedule"]["Default"];
    assert_eq!(schedule.as_str(), Some("cron(0 6 * * ? *)"), "daily");
    assert!(!env(f, "JOB_QUEUE_URL").is_null(), "admissions are queued");
}

/// Issue 14: applicants are mailed by the functions that change their
/// requests (the webhook function decides, the worker and the lifecycle
/// run admit and expire), through SES only when `MailFrom` is set, and
/// each may send only from that address; the channel names are the ones
/// the code reads.
#[test]
fn the_functions_that_change_requests_mail_applicants_through_ses_from_mail_from_only() {
    use agol_seat_broker::config::mail::{MailChannel, MailSettings};
    let t = template();
    assert_eq!(t["Parameters"]["MailFrom"]["Default"].as_str(), Some(""));
    let tagged = |v: &Value, tag: &str| -> Vec<Value> {
        match v {
            Value::Tagged(x) if x.tag == tag => match &x.value {
                Value::Sequence(items) => items.clone(),
                other => vec![other.clone()],
            },
            other => panic!("expected !{tag}, got {other:?}"),
        }
    };
    for name in ["BrokerFunction", "WorkerFunction", "LifecycleFunction"] {
        let f = &t["Resources"][name];
        let channel = tagged(env(f, "MAIL_CHANNEL"), "If");
        assert_eq!(channel[0].as_str(), Some("HasMailFrom"), "{name}");
        let (on, off) = (channel[1].as_str(), channel[2].as_str());
        assert_eq!((on, off), (Some("ses"), Some("off")), "{name}");
        let from = tagged(env(f, "MAIL_FROM"), "Ref");
        assert_eq!(from[0].as_str(), Some("MailFrom"), "{name}");
        for (value, expect_ses) in [(on, true), (off, false)] {
            let parsed = MailSettings::parse(|var| match var {
                "MAIL_CHANNEL" => value.map(str::to_string),
                "MAIL_FROM" => Some("noreply@example.org".into()),
                _ => None,
            })
            .unwrap();
            assert_eq!(matches!(parsed.channel, MailChannel::Ses), expect_ses);
        }

        let statements = f["Properties"]["Policies"][0]["Statement"]
            .as_sequence()
            .expect("Statement");
        let ses: Vec<Vec<Value>> = statements
            .iter()
            .filter(|s| matches!(s, Value::Tagged(x) if x.tag == "If"))
            .map(|s| tagged(s, "If"))
            .filter(|branches| branches[1]["Action"].as_str() == Some("ses:SendEmail"))
            .collect();
        assert_eq!(ses.len(), 1, "{name}: one ses:SendEmail statement");
        let ses = &ses[0];
        assert_eq!(ses[0].as_str(), Some("HasMailFrom"), "{name}");
        let only_from = tagged(
            &ses[1]["Condition"]["StringEquals"]["ses:FromAddress"],
            "Ref",
        );
        assert_eq!(only_from[0].as_str(), Some("MailFrom"), "{name}");
        let resources = ses[1]["Resource"].as_sequence().expect("Resource list");
        assert!(
            !resources.iter().any(|r| r.as_str() == Some("*")),
            "{name}: scoped to the identity"
        );
        assert_eq!(
            tagged(&ses[2], "Ref")[0].as_str(),
            Some("AWS::NoValue"),
            "{name}: no permission without MailFrom"
        );
    }
    let import = &t["Resources"]["ImportFunction"];
    assert!(
        env(import, "MAIL_CHANNEL").is_null(),
        "the import mails no one"
    );
}

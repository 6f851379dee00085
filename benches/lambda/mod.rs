//! Runs the release build of the Lambda binary (`ec2-tier-scheduler`)
//! locally, for the start-up and memory benchmarks.
//!
//! A tiny HTTP/1.1 server in the benchmark process plays the Lambda Runtime
//! API (`AWS_LAMBDA_RUNTIME_API`) and, through `AWS_ENDPOINT_URL`, DynamoDB
//! and EC2 with canned answers, so the function does its real work (SDK
//! configuration, clients, configuration load and validation, discovery
//! with paging, plan, Stop/StartInstances batches, the summary) while the
//! services answer at once. No throttling here: that is `benches/scale.rs`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// The workload the canned services describe: `tiers` tiers (`Tier00`...)
/// of `per_tier` instances, async, no inter-tier delay, stop in tier order.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub tiers: usize,
    pub per_tier: usize,
}

/// What one process did.
#[derive(Debug)]
pub struct Outcome {
    /// Process start to its first `GET .../invocation/next`.
    pub init: Duration,
    /// Process start to each `/response` POST, in event order.
    pub handled: Vec<Duration>,
    /// The response bodies.
    pub responses: Vec<String>,
    /// VmHWM of the process after the last response, KiB.
    pub peak_rss_kib: u64,
}

/// The release binary: `STARTUP_BIN`, else `$CARGO_TARGET_DIR/release/ec2-tier-scheduler`.
pub fn release_binary() -> PathBuf {
    let bin = std::env::var_os("STARTUP_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
        dir.join("release/ec2-tier-scheduler")
    });
    assert!(
        bin.exists(),
        "{} not found: cargo build --release --bin ec2-tier-scheduler (or set STARTUP_BIN)",
        bin.display()
    );
    bin
}

/// A Stop or Start event for the fixture's workload.
pub fn event(action: &str) -> Value {
    json!({ "workloadIdentifier": "Bench", "action": action, "dryRun": false })
}

enum Seen {
    Next(Instant),
    Response(Instant, String),
    Error(String),
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = request.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    } else if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(request)
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, extra: &[(&str, String)], body: &str) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    // One write: head and body in separate segments would meet the client's
    // delayed ACK (tens of milliseconds per response).
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// Plain JSON to DynamoDB's attribute-value JSON (strings and maps only).
fn ddb(value: &Value) -> Value {
    match value {
        Value::String(s) => json!({ "S": s }),
        Value::Object(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), ddb(v))).collect::<Map<_, _>>() }),
        other => panic!("unsupported {other}"),
    }
}

fn ddb_item(value: &Value) -> Value {
    Value::Object(
        value
            .as_object()
            .expect("an object")
            .iter()
            .map(|(k, v)| (k.clone(), ddb(v)))
            .collect(),
    )
}

fn get_item() -> String {
    json!({ "Item": ddb_item(&json!({
        "SpecName": "Bench",
        "DisableAllSchedulingActions": "0",
        "WorkloadFilterTagName": "Environment",
        "WorkloadFilterTagValue": "ENV001",
        "WorkloadRegion": "us-west-2",
        "TierFilterTagName": "Role"
    })) })
    .to_string()
}

fn query(fixture: Fixture) -> String {
    let last = fixture.tiers - 1;
    let items: Vec<Value> = (0..fixture.tiers)
        .map(|t| {
            ddb_item(&json!({
                "SpecName": "Bench",
                "TierTagValue": format!("Tier{t:02}"),
                "TierStop": { "TierSequence": t.to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
                "TierStart": { "TierSequence": (last - t).to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" }
            }))
        })
        .collect();
    json!({ "Count": items.len(), "ScannedCount": items.len(), "Items": items }).to_string()
}

const PAGE: usize = 1000;

/// One DescribeInstances page (1000 instances), with a NextToken when more follow.
fn describe_instances(fixture: Fixture, page: usize, state: (u8, &str)) -> String {
    let total = fixture.tiers * fixture.per_tier;
    let mut out = String::with_capacity(PAGE * 400);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId>\
         <reservationSet><item><reservationId>r-0001</reservationId><ownerId>123456789012</ownerId><instancesSet>",
    );
    for n in page * PAGE..((page + 1) * PAGE).min(total) {
        let tier = n / fixture.per_tier;
        out.push_str(&format!(
            "<item><instanceId>i-{:017x}</instanceId><instanceType>t3.micro</instanceType>\
             <instanceState><code>{}</code><name>{}</name></instanceState>\
             <tagSet><item><key>Environment</key><value>ENV001</value></item>\
             <item><key>Role</key><value>Tier{tier:02}</value></item></tagSet></item>",
            0x0b00_0000 + n,
            state.0,
            state.1
        ));
    }
    out.push_str("</instancesSet></item></reservationSet>");
    if (page + 1) * PAGE < total {
        out.push_str(&format!("<nextToken>page-{}</nextToken>", page + 1));
    }
    out.push_str("</DescribeInstancesResponse>");
    out
}

fn mutate(action: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-2</requestId>\
         <instancesSet/></{action}Response>"
    )
}

/// Shared by the connections: which event comes next, the action of the
/// one being handled and whether it has acted yet (they decide the states
/// the canned EC2 reports: a Start confirms its instances running).
struct Shared {
    fixture: Fixture,
    events: Vec<String>,
    next: usize,
    action: String,
    acted: bool,
}

fn serve(mut stream: TcpStream, seen: Sender<Seen>, shared: Arc<Mutex<Shared>>) {
    let _ = stream.set_nodelay(true);
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    while let Some(request) = read_request(&mut reader) {
        let path = request.path.as_str();
        if path.ends_with("/runtime/invocation/next") {
            let event = {
                let mut s = shared.lock().unwrap();
                let event = s.events.get(s.next).cloned();
                if let Some(e) = &event {
                    let v: Value = serde_json::from_str(e).expect("event");
                    s.action = v["action"].as_str().unwrap_or_default().to_string();
                    s.acted = false;
                    s.next += 1;
                }
                event
            };
            let Some(event) = event else {
                // No more events: hold the request until the process is killed.
                let _ = reader.read(&mut [0u8; 1]);
                return;
            };
            let _ = seen.send(Seen::Next(Instant::now()));
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis()
                + 900_000;
            respond(
                &mut stream,
                "200 OK",
                "application/json",
                &[
                    ("Lambda-Runtime-Aws-Request-Id", "bench-request".into()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-west-2:123456789012:function:ec2-tier-scheduler".into(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-00000000-000000000000000000000000".into(),
                    ),
                ],
                &event,
            );
        } else if path.contains("/runtime/") {
            // A response, or an init/invocation error the run then reports.
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let _ = seen.send(
                if path.contains("/runtime/invocation/") && path.ends_with("/response") {
                    Seen::Response(Instant::now(), body)
                } else {
                    Seen::Error(format!("{path}: {body}"))
                },
            );
            respond(
                &mut stream,
                "202 Accepted",
                "application/json",
                &[],
                "{\"status\":\"OK\"}",
            );
        } else if let Some(target) = request.header("x-amz-target") {
            let fixture = shared.lock().unwrap().fixture;
            let body = match target.rsplit('.').next() {
                Some("GetItem") => get_item(),
                Some("Query") => query(fixture),
                _ => "{}".to_string(),
            };
            respond(&mut stream, "200 OK", "application/x-amz-json-1.0", &[], &body);
        } else {
            let form = String::from_utf8_lossy(&request.body).into_owned();
            let operation = form
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or_default();
            let (fixture, action, acted) = {
                let mut s = shared.lock().unwrap();
                s.acted |= matches!(operation, "StopInstances" | "StartInstances");
                (s.fixture, s.action.clone(), s.acted)
            };
            let body = if operation == "DescribeInstances" {
                let page = form
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("NextToken=page-"))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let state = if (action == "Start") == acted {
                    (16, "running")
                } else {
                    (80, "stopped")
                };
                describe_instances(fixture, page, state)
            } else if matches!(operation, "StopInstances" | "StartInstances") {
                mutate(operation)
            } else if operation == "DescribeVolumes" {
                // The Start's KMS readiness reads the instances' volumes:
                // none here, so there is no key to check.
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <DescribeVolumesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                 <requestId>r-3</requestId><volumeSet/></DescribeVolumesResponse>"
                    .to_string()
            } else {
                let _ = seen.send(Seen::Error(format!("unexpected {} {path}: {form}", request.method)));
                String::new()
            };
            respond(&mut stream, "200 OK", "text/xml;charset=UTF-8", &[], &body);
        }
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `bin` as the Lambda runtime would, serves it `events` one after
/// the other, and returns the timings and its peak RSS, then kills it.
pub fn run_function(bin: &PathBuf, fixture: Fixture, events: &[Value]) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = channel();
    let shared = Arc::new(Mutex::new(Shared {
        fixture,
        events: events.iter().map(Value::to_string).collect(),
        next: 0,
        action: String::new(),
        acted: false,
    }));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            let shared = shared.clone();
            thread::spawn(move || serve(stream, tx, shared));
        }
    });
    let endpoint = format!("http://127.0.0.1:{port}");
    let began = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "ec2-tier-scheduler")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ec2-tier-scheduler")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut init = None;
    let mut handled = Vec::new();
    let mut responses = Vec::new();
    let failure = loop {
        if responses.len() == events.len() {
            break None;
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Seen::Next(at)) => {
                init.get_or_insert(at - began);
            }
            Ok(Seen::Response(at, body)) => {
                handled.push(at - began);
                responses.push(body);
            }
            Ok(Seen::Error(what)) => break Some(what),
            Err(_) => break Some("no response within 60 s".to_string()),
        }
    };
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    if let Some(what) = failure {
        panic!("the function did not handle the event: {what}");
    }
    Outcome {
        init: init.expect("next was served"),
        handled,
        responses,
        peak_rss_kib,
    }
}

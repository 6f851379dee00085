//! A minimal AWS Lambda Runtime API on 127.0.0.1 for the Lambda binary
//! (`ec2-tier-scheduler`) under test: it hands the process one event after
//! the other (`GET .../invocation/next`) and collects what the function
//! answers (`POST .../response` or `.../error`), so a test runs the real
//! binary, its runtime and its environment, against moto.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// Runs the Lambda binary with `env` (besides the runtime's own variables),
/// serves it `events` in order and returns its answers (an error answer
/// as `{"errorType": ...}`), then stops it.
pub fn invoke_binary(env: &[(&str, String)], events: &[Value]) -> Vec<Value> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = channel();
    let queue = Arc::new(Mutex::new(events.iter().map(Value::to_string).collect::<Vec<_>>()));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tx, queue) = (tx.clone(), queue.clone());
            thread::spawn(move || serve(stream, tx, queue));
        }
    });
    let mut command = Command::new(env!("CARGO_BIN_EXE_ec2-tier-scheduler"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "ec2-tier-scheduler")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ec2-tier-scheduler")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the Lambda binary starts");
    let answers: Vec<Value> = (0..events.len())
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(120))
                .expect("an answer within 120 s")
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    answers
}

/// One connection of the runtime: requests one after the other.
fn serve(stream: TcpStream, answers: Sender<Value>, queue: Arc<Mutex<Vec<String>>>) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = request(&mut reader) {
        if path.ends_with("/invocation/next") {
            let next = {
                let mut q = queue.lock().unwrap();
                (!q.is_empty()).then(|| q.remove(0))
            };
            let Some(event) = next else {
                // Nothing more: hold the request until the process stops.
                let _ = reader.read(&mut [0u8; 1]);
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 300_000;
            let headers = format!(
                "Lambda-Runtime-Aws-Request-Id: test-request\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-west-2:123456789012:function:scheduler\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
            );
            respond(&mut out, &headers, &event);
        } else {
            let answer = serde_json::from_str(&body).unwrap_or(Value::String(body));
            respond(&mut out, "", "");
            let _ = answers.send(answer);
        }
    }
}

/// The path and body of the next request, `None` at the end of the stream.
fn request(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

fn respond(out: &mut TcpStream, headers: &str, body: &str) {
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = out.flush();
}

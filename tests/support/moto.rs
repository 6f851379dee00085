//! A private moto server per test, and SDK configuration pointing at it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("VENV").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_string());
    PathBuf::from(venv).join("bin").join(name)
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> Moto {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(venv_bin("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server not found: run `make venv` first");
            let mut moto = Moto {
                child,
                port,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            for _ in 0..200 {
                if moto.http_get("/moto-api/").await.is_ok() {
                    return moto;
                }
                if moto.child.try_wait().ok().flatten().is_some() {
                    break; // port taken: try another
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("moto_server did not start");
    }

    /// SDK configuration for this server in `region`, with dummy keys.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// A plain HTTP GET on the server (for `/moto-api/data.json`).
    pub async fn http_get(&self, path: &str) -> std::io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await?;
        Ok(body
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default())
    }

    /// Messages published to SNS, as moto stores them: (topic ARN, subject, message).
    pub async fn sns_messages(&self) -> Vec<(String, String, String)> {
        let text = self.http_get("/moto-api/data.json").await.unwrap();
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out = Vec::new();
        let Some(topics) = data["sns"]["Topic"].as_array() else {
            return out;
        };
        for topic in topics {
            let arn = topic["arn"].as_str().unwrap_or_default().to_string();
            if let Some(messages) = topic["sent_notifications"].as_array() {
                for m in messages {
                    // [message_id, message, subject, attributes, group_id]
                    let message = m[1].as_str().unwrap_or_default().to_string();
                    let subject = m[2].as_str().unwrap_or_default().to_string();
                    out.push((arn.clone(), subject, message));
                }
            }
        }
        out
    }

    /// Starts the simulated SSM agent (tests/support/ssm_agent.py) against
    /// this server. `args` are its fixture flags (`--file ID:PATH`, ...).
    pub fn agent(&self, region: &str, args: &[String]) -> Agent {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/ssm_agent.py");
        let child = Command::new(venv_bin("python"))
            .arg(script)
            .args(["--endpoint", &self.endpoint, "--region", region])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python in the virtualenv");
        Agent { child }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulated SSM agent process, killed on drop.
pub struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

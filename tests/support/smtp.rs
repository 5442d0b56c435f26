//! A real SMTP server on 127.0.0.1 for tests: enough of RFC 5321 for lettre (EHLO, MAIL,
//! RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT). It can play a mail server that is
//! down (connections refused) and comes back, or one that accepts and never says a word.
//!
//! A down server keeps its port bound without listening, so the port is never free: a port
//! let go and bound again races other tests' servers and outgoing connections for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// When the server accepted it.
    pub at: Instant,
}

impl ReceivedMail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a parsable message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parsed();
        message.header_raw(name).map(|v| v.trim().to_string())
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }

    pub fn text_body(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default()
    }

    pub fn html_body(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|b| b.into_owned())
            .unwrap_or_default()
    }
}

pub struct SmtpServer {
    port: u16,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    silent: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

pub struct DownSmtpServer {
    socket: TcpSocket,
    port: u16,
}

impl DownSmtpServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening on the reserved port.
    pub fn come_up(self) -> SmtpServer {
        self.listen(false)
    }

    fn listen(self, silent: bool) -> SmtpServer {
        let listener = self.socket.listen(1024).expect("listen on the SMTP port");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let silent = Arc::new(AtomicBool::new(silent));
        let task = tokio::spawn(serve(listener, messages.clone(), silent.clone()));
        SmtpServer {
            port: self.port,
            messages,
            silent,
            task,
        }
    }
}

async fn serve(
    listener: TcpListener,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    silent: Arc<AtomicBool>,
) {
    let mut sessions = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        if silent.load(Ordering::SeqCst) {
            sessions.spawn(hold(stream));
        } else {
            sessions.spawn(session(stream, messages.clone()));
        }
    }
}

/// Keeps a connection open without a word until the client gives up.
async fn hold(mut stream: TcpStream) {
    let mut sink = [0u8; 512];
    while let Ok(read) = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await {
        if read == 0 {
            return;
        }
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        SmtpServer::down().come_up()
    }

    /// A mail server that is down: its port is reserved and refuses connections.
    pub fn down() -> DownSmtpServer {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind an SMTP port");
        let port = socket.local_addr().expect("a bound port").port();
        DownSmtpServer { socket, port }
    }

    /// A mail server that accepts connections and never answers, until `speak`.
    pub async fn start_silent() -> SmtpServer {
        SmtpServer::down().listen(true)
    }

    /// Connections from now on get a real session; those already held stay silent.
    pub fn speak(&self) {
        self.silent.store(false, Ordering::SeqCst);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        while self.messages().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.messages()
    }

    /// Stops listening and drops every connection, for good: the port is given up.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn session(stream: TcpStream, messages: Arc<Mutex<Vec<ReceivedMail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 test-smtp ready\r\n").await.is_err() {
        return;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            "250-test-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 test-smtp\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            "250 OK\r\n".into()
        } else if upper == "DATA" {
            if write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            messages.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: to.clone(),
                data,
                at: Instant::now(),
            });
            "250 OK queued\r\n".into()
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 OK\r\n".into()
        } else if upper == "NOOP" {
            "250 OK\r\n".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 command not implemented\r\n".into()
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn address(text: &str) -> String {
    let text = text.trim();
    let start = text.find('<').map_or(0, |i| i + 1);
    let end = text.find('>').unwrap_or(text.len());
    text[start..end].to_string()
}

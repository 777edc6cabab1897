//! The embedded proxy driven by an independent client, the `toxiproxy_rust` crate: create,
//! populate, add and remove toxics, disable, reset.

use shakedown::proxy::Server;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

#[test]
fn toxiproxy_rust_drives_the_embedded_server() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt
        .block_on(Server::start("127.0.0.1:0", 1))
        .expect("server");
    // An upstream that answers each connection with one line.
    let up = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up_addr = up.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut s in up.incoming().flatten() {
            let _ = s.write_all(b"hello\n");
        }
    });
    let client = Client::new(server.addr());
    assert!(client.is_running());
    let version = client.version().expect("version");
    assert!(version.contains(shakedown::proxy::VERSION), "{version}");

    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let listen = free.local_addr().expect("addr").to_string();
    drop(free);
    let proxies = client
        .populate(vec![ProxyPack::new(
            "svc".into(),
            listen.clone(),
            up_addr.to_string(),
        )])
        .expect("populate");
    assert_eq!(proxies.len(), 1);
    assert_eq!(proxies[0].proxy_pack.listen, listen);
    let read = || {
        let mut s = TcpStream::connect(&listen).ok()?;
        let mut got = String::new();
        s.read_to_string(&mut got).ok()?;
        Some(got)
    };
    assert_eq!(read().as_deref(), Some("hello\n"));

    let proxy = client.find_proxy("svc").expect("find");
    proxy
        .with_latency("downstream".into(), 10, 0, 1.0)
        .with_limit_data("upstream".into(), 100, 1.0);
    let toxics = proxy.toxics().expect("toxics");
    let names: Vec<&str> = toxics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["latency_downstream", "limit_data_upstream"]);
    proxy.delete_all_toxics().expect("remove toxics");
    assert!(proxy.toxics().expect("toxics").is_empty());

    proxy.disable().expect("disable");
    assert!(read().is_none());
    client.reset().expect("reset");
    assert_eq!(read().as_deref(), Some("hello\n"));
    assert!(client.all().expect("all").contains_key("svc"));
    proxy.delete().expect("delete");
    assert!(client.all().expect("all").is_empty());
    rt.block_on(server.stop());
}

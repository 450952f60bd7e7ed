//! sprig's `getHostByName`: one of the host's addresses (Go's `net.LookupHost`, then a
//! random pick), through the system resolver.

use std::net::ToSocketAddrs;

use rand::Rng;

use crate::FuncMap;
use crate::value::{Arg, Function, ParamType, Value};

/// The addresses of `name` (an IP literal is its own address), without duplicates.
fn lookup_host(name: &str) -> Vec<String> {
    if name.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    if let Ok(addrs) = (name, 0).to_socket_addrs() {
        for a in addrs {
            let ip = a.ip().to_string();
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

pub(super) fn register(m: &mut FuncMap) {
    m.insert(
        "getHostByName".into(),
        Function::new(vec![ParamType::String], false, "string", false, |a| {
            let name = match a.first().map(Arg::value) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            let addrs = lookup_host(&name);
            if addrs.is_empty() {
                // sprig indexes a random element of the empty result: Go's rand.Intn(0)
                // panics, which text/template reports as the call's error
                return Err("invalid argument to Intn".into());
            }
            let pick = rand::rng().random_range(0..addrs.len());
            Ok(Arg::Value(Value::String(addrs[pick].clone())))
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_and_literals() {
        let f = {
            let mut m = FuncMap::new();
            register(&mut m);
            m.remove("getHostByName").unwrap()
        };
        let call = |s: &str| f.call(&[Arg::Value(Value::String(s.into()))]);
        let got = call("localhost").unwrap().value();
        let s = got.as_str().unwrap().to_string();
        assert!(s == "127.0.0.1" || s == "::1", "{s}");
        assert_eq!(
            call("10.1.2.3").unwrap().value(),
            Value::String("10.1.2.3".into())
        );
        assert_eq!(call("").unwrap_err(), "invalid argument to Intn");
        assert!(call("no-such-host.invalid").is_err());
    }
}

//! The little DER and PEM the stand-in reads and writes itself: private key containers
//! (PKCS#8, PKCS#1, SEC 1), the extensions rcgen has no builder for, and PEM blocks as Go's
//! `encoding/pem` frames them.

use base64::Engine as _;

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;

/// One TLV at the start of `b`: tag, content and what follows (single-byte tags only).
pub fn read(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Every TLV of a constructed value's content.
pub fn items(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, c, rest) = read(content)?;
        out.push((tag, c));
        content = rest;
    }
    Some(out)
}

/// A TLV with a definite length.
pub fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded items.
pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    write(SEQUENCE, &parts.concat())
}

/// An OBJECT IDENTIFIER from its arcs.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut chunk = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    };
    if arcs.len() >= 2 {
        push(arcs[0] * 40 + arcs[1]);
        for &a in &arcs[2..] {
            push(a);
        }
    }
    write(OID, &body)
}

/// The dotted arcs of an OBJECT IDENTIFIER's content.
pub fn oid_arcs(content: &[u8]) -> Vec<u64> {
    let mut arcs = Vec::new();
    let mut v: u64 = 0;
    for &b in content {
        v = (v << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    arcs
}

/// `1.2.3` as arcs; None if it is not a dotted OID.
pub fn parse_dotted(s: &str) -> Option<Vec<u64>> {
    let arcs: Option<Vec<u64>> = s.split('.').map(|p| p.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2)
}

/// A PEM block as Go's `pem.EncodeToMemory` writes it (64-column lines).
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block in `data` as Go's `pem.Decode` finds it: its label, its bytes and
/// what follows; None when there is none.
pub fn pem_decode(data: &[u8]) -> Option<(String, Vec<u8>, &[u8])> {
    let text = std::str::from_utf8(data).ok()?;
    let mut from = 0;
    while let Some(i) = text[from..].find("-----BEGIN ") {
        let start = from + i;
        let after = &text[start + 11..];
        let label_end = after.find("-----")?;
        let label = &after[..label_end];
        let body_start = start + 11 + label_end + 5;
        let end_marker = format!("-----END {label}-----");
        let Some(j) = text[body_start..].find(&end_marker) else {
            from = body_start;
            continue;
        };
        let body: String = text[body_start..body_start + j]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let rest_at = body_start + j + end_marker.len();
        match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            Ok(der) => return Some((label.to_string(), der, &data[rest_at..])),
            Err(_) => from = rest_at,
        }
    }
    None
}

/// Every block of a PEM bundle with the given label, in order.
#[cfg(test)]
pub fn pem_blocks(mut data: &[u8], label: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((l, der, rest)) = pem_decode(data) {
        if l == label {
            out.push(der);
        }
        data = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip() {
        for arcs in [
            vec![1, 2, 840, 113549, 1, 1, 1],
            vec![2, 5, 29, 17],
            vec![1, 3, 101, 112],
            vec![0, 9, 2342, 19200300, 100, 1, 25],
        ] {
            let der = oid(&arcs);
            let (tag, content, rest) = read(&der).unwrap();
            assert_eq!((tag, rest.len()), (OID, 0));
            assert_eq!(oid_arcs(content), arcs);
        }
        assert_eq!(oid(&[2, 5, 4, 3]), vec![0x06, 0x03, 0x55, 0x04, 0x03]);
    }

    #[test]
    fn long_lengths_and_pem_framing() {
        let content = vec![7u8; 300];
        let der = write(OCTET_STRING, &content);
        assert_eq!(&der[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(read(&der).unwrap().1, content.as_slice());
        let p = pem("CERTIFICATE", &der);
        assert!(p.lines().all(|l| l.len() <= 64));
        let text = format!("junk\n{p}{}", pem("PRIVATE KEY", &[1, 2, 3]));
        let (label, back, rest) = pem_decode(text.as_bytes()).unwrap();
        assert_eq!((label.as_str(), back), ("CERTIFICATE", der.clone()));
        assert_eq!(pem_blocks(rest, "PRIVATE KEY"), vec![vec![1, 2, 3]]);
        assert!(pem_decode(b"no pem here").is_none());
    }
}

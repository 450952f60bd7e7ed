//! sprig's encoding functions: base64 and base32 (decode errors come back as the text,
//! as sprig returns them), sha1sum, sha256sum, adler32sum.

use sha1::Digest as _;

use crate::value::{FuncMap, ParamType};

use super::strings::{add, lossy, ok_s, sarg};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b64_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len().div_ceil(3) * 4);
    for chunk in s.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(v >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u8> {
    B64.iter().position(|&x| x == c).map(|p| p as u8)
}

/// One quantum of Go's (non-strict) StdEncoding decoder: the next index, the bytes.
fn b64_quantum(src: &[u8], mut si: usize, out: &mut Vec<u8>) -> Result<usize, usize> {
    let mut dbuf = [0u8; 4];
    let mut dlen = 4;
    let mut j = 0;
    let mut late_err = None;
    while j < 4 {
        if si == src.len() {
            if j == 0 {
                return Ok(si);
            }
            // with padding, a short quantum is corrupt
            return Err(si - j);
        }
        let c = src[si];
        si += 1;
        if let Some(v) = b64_value(c) {
            dbuf[j] = v;
            j += 1;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c != b'=' {
            return Err(si - 1);
        }
        match j {
            0 | 1 => return Err(si - 1),
            2 => {
                while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            _ => {}
        }
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
        if si < src.len() {
            late_err = Some(si);
        }
        dlen = j;
        break;
    }
    let v =
        u32::from(dbuf[0]) << 18 | u32::from(dbuf[1]) << 12 | u32::from(dbuf[2]) << 6 | u32::from(dbuf[3]);
    let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
    out.extend_from_slice(&bytes[..dlen - 1]);
    match late_err {
        Some(e) => Err(e),
        None => Ok(si),
    }
}

fn b64_decode(s: &str) -> String {
    let src = s.as_bytes();
    let mut out = Vec::new();
    let mut si = 0;
    while si < src.len() {
        match b64_quantum(src, si, &mut out) {
            Ok(n) => si = n,
            Err(at) => return format!("illegal base64 data at input byte {at}"),
        }
    }
    lossy(&out)
}

fn b32_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len().div_ceil(5) * 8);
    for chunk in s.chunks(5) {
        let mut b = [0u8; 5];
        b[..chunk.len()].copy_from_slice(chunk);
        let v = b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(char::from(B32[(v >> (35 - 5 * i) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32_decode(s: &str) -> String {
    let src: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    let olen = src.len();
    let mut rest: &[u8] = &src;
    let mut out = Vec::new();
    let mut end = false;
    let corrupt = |at: usize| format!("illegal base32 data at input byte {at}");
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            if rest.is_empty() {
                return corrupt(olen - j);
            }
            let c = rest[0];
            rest = &rest[1..];
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return corrupt(olen);
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return corrupt(olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if dlen == 1 || dlen == 3 || dlen == 6 {
                    return corrupt(olen - rest.len() - 1);
                }
                break;
            }
            match B32.iter().position(|&x| x == c) {
                Some(v) => dbuf[j] = v as u8,
                None => return corrupt(olen - rest.len() - 1),
            }
            j += 1;
        }
        let v = dbuf.iter().fold(0u64, |acc, &x| acc << 5 | u64::from(x));
        let bytes = [
            (v >> 32) as u8,
            (v >> 24) as u8,
            (v >> 16) as u8,
            (v >> 8) as u8,
            v as u8,
        ];
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..n]);
    }
    lossy(&out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(b: &[u8]) -> u32 {
    let (mut a, mut s) = (1u32, 0u32);
    for chunk in b.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            s += a;
        }
        a %= 65521;
        s %= 65521;
    }
    s << 16 | a
}

pub(super) fn register(m: &mut FuncMap) {
    let f = |m: &mut FuncMap, name: &str, g: fn(&str) -> String| {
        add(
            m,
            name,
            vec![ParamType::String],
            false,
            "string",
            false,
            move |a| ok_s(g(&sarg(a, 0))),
        );
    };
    f(m, "b64enc", |s| b64_encode(s.as_bytes()));
    f(m, "b64dec", b64_decode);
    f(m, "b32enc", |s| b32_encode(s.as_bytes()));
    f(m, "b32dec", b32_decode);
    f(m, "sha1sum", |s| hex(&sha1::Sha1::digest(s.as_bytes())));
    f(m, "sha256sum", |s| {
        use sha2::Digest as _;
        hex(&sha2::Sha256::digest(s.as_bytes()))
    });
    f(m, "adler32sum", |s| adler32(s.as_bytes()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "héllo"] {
            assert_eq!(b64_decode(&b64_encode(s.as_bytes())), s);
            assert_eq!(b32_decode(&b32_encode(s.as_bytes())), s);
        }
        assert_eq!(b32_encode(b"foobar"), "MZXW6YTBOI======");
        assert_eq!(adler32(b"Wikipedia"), 300286872);
    }
}

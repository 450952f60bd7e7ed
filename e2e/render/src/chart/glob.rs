//! gobwas/glob with `/` as the separator, as `.Files.Glob` compiles its pattern: `*`
//! within a path segment, `**` across segments, `?`, `[abc]`, `[!a-z]`, `{a,b}`, `\`
//! escapes.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Super,
    Single,
    Class { negated: bool, items: Vec<(char, char)> },
    Alt(Vec<Vec<Tok>>),
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Glob(Vec<Tok>);

impl Glob {
    /// Compiles `pattern`; an unbalanced `[` or `{` is an error.
    pub fn compile(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let toks = parse(&chars, &mut i, false)?;
        if i != chars.len() {
            return Err("unexpected character".into());
        }
        Ok(Glob(toks))
    }

    /// `**`: everything.
    pub fn any() -> Glob {
        Glob(vec![Tok::Super])
    }

    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        match_seq(&self.0, &chars, &[])
    }
}

fn parse(c: &[char], i: &mut usize, in_alt: bool) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    while *i < c.len() {
        match c[*i] {
            '*' => {
                if c.get(*i + 1) == Some(&'*') {
                    out.push(Tok::Super);
                    *i += 2;
                } else {
                    out.push(Tok::Any);
                    *i += 1;
                }
            }
            '?' => {
                out.push(Tok::Single);
                *i += 1;
            }
            '\\' => {
                let Some(&n) = c.get(*i + 1) else {
                    return Err("unexpected end of input".into());
                };
                out.push(Tok::Lit(n));
                *i += 2;
            }
            '[' => {
                *i += 1;
                let negated = c.get(*i) == Some(&'!');
                if negated {
                    *i += 1;
                }
                let mut items = Vec::new();
                loop {
                    let Some(&a) = c.get(*i) else {
                        return Err("unexpected end of input".into());
                    };
                    if a == ']' {
                        *i += 1;
                        break;
                    }
                    if c.get(*i + 1) == Some(&'-') && c.get(*i + 2).is_some_and(|&b| b != ']') {
                        items.push((a, c[*i + 2]));
                        *i += 3;
                    } else {
                        items.push((a, a));
                        *i += 1;
                    }
                }
                out.push(Tok::Class { negated, items });
            }
            '{' => {
                *i += 1;
                let mut alts = Vec::new();
                loop {
                    alts.push(parse(c, i, true)?);
                    match c.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break;
                        }
                        _ => return Err("unexpected end of input".into()),
                    }
                }
                out.push(Tok::Alt(alts));
            }
            ',' | '}' if in_alt => return Ok(out),
            ch => {
                out.push(Tok::Lit(ch));
                *i += 1;
            }
        }
    }
    Ok(out)
}

/// Matches `toks` then `rest` (the tokens after an alternative) against `s`.
fn match_seq(toks: &[Tok], s: &[char], rest: &[&[Tok]]) -> bool {
    let Some((first, tail)) = toks.split_first() else {
        return match rest.split_first() {
            Some((next, more)) => match_seq(next, s, more),
            None => s.is_empty(),
        };
    };
    match first {
        Tok::Lit(ch) => s.first() == Some(ch) && match_seq(tail, &s[1..], rest),
        Tok::Single => s.first().is_some_and(|&c| c != '/') && match_seq(tail, &s[1..], rest),
        Tok::Class { negated, items } => match s.first() {
            Some(&c) => {
                let inside = items.iter().any(|&(a, b)| a <= c && c <= b);
                inside != *negated && match_seq(tail, &s[1..], rest)
            }
            None => false,
        },
        Tok::Any => {
            for k in 0..=s.len() {
                if k > 0 && s[k - 1] == '/' {
                    break;
                }
                if match_seq(tail, &s[k..], rest) {
                    return true;
                }
            }
            false
        }
        Tok::Super => (0..=s.len()).any(|k| match_seq(tail, &s[k..], rest)),
        Tok::Alt(alts) => {
            let mut more: Vec<&[Tok]> = vec![tail];
            more.extend_from_slice(rest);
            alts.iter().any(|a| match_seq(a, s, &more))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn separators_bound_single_stars() {
        let g = Glob::compile("files/*.txt").unwrap();
        assert!(g.matches("files/a.txt"));
        assert!(!g.matches("files/sub/a.txt"));
        let g = Glob::compile("files/**.txt").unwrap();
        assert!(g.matches("files/sub/a.txt"));
        let g = Glob::compile("{conf,files}/[a-c]?.{yaml,json}").unwrap();
        assert!(g.matches("conf/ax.yaml"));
        assert!(g.matches("files/c1.json"));
        assert!(!g.matches("files/d1.json"));
        assert!(!g.matches("files/c/.json"));
        assert!(Glob::compile("[abc").is_err());
        assert!(Glob::compile("[!a]").unwrap().matches("b"));
    }
}

//! The lexer: Go's text/template/parse lexer, state for state, producing the same items,
//! positions, lines and error texts.

// The scanning loops keep Go's shape: conditions that consume input stay inside the arms.
#![allow(clippy::collapsible_match)]

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // keywords
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemType {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemType::Block
                | ItemType::Break
                | ItemType::Continue
                | ItemType::Dot
                | ItemType::Define
                | ItemType::Else
                | ItemType::End
                | ItemType::If
                | ItemType::Nil
                | ItemType::Range
                | ItemType::Template
                | ItemType::With
        )
    }
}

fn keyword(word: &str) -> Option<ItemType> {
    Some(match word {
        "." => ItemType::Dot,
        "block" => ItemType::Block,
        "break" => ItemType::Break,
        "continue" => ItemType::Continue,
        "define" => ItemType::Define,
        "else" => ItemType::Else,
        "end" => ItemType::End,
        "if" => ItemType::If,
        "range" => ItemType::Range,
        "nil" => ItemType::Nil,
        "template" => ItemType::Template,
        "with" => ItemType::With,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub typ: ItemType,
    pub pos: usize,
    pub val: String,
    pub line: usize,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => write!(f, "EOF"),
            ItemType::Error => write!(f, "{}", self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ => {
                if self.val.len() > 10 {
                    // Go tests the length in bytes, then %.10q quotes the first ten runes
                    let head: String = self.val.chars().take(10).collect();
                    write!(f, "{}...", crate::gofmt::quote(&head, false))
                } else {
                    write!(f, "{}", crate::gofmt::quote(&self.val, false))
                }
            }
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i64,
    line: usize,
    start_line: usize,
    state: Option<State>,
    pending: std::collections::VecDeque<Item>,
}

/// What `next` returns at the end of input; callers test the position, not this value.
const EOF: char = '\u{0}';

fn is_space(r: char) -> bool {
    matches!(r, ' ' | '\t' | '\r' | '\n')
}

/// Go's `_`, `unicode.IsLetter` or `unicode.IsDigit` (Rust's alphabetic/numeric classes are
/// slightly wider outside ASCII).
fn is_alnum(r: char) -> bool {
    r == '_' || r.is_alphabetic() || r.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            paren_depth: 0,
            line: 1,
            start_line: 1,
            state: Some(State::Text),
            pending: Default::default(),
        }
    }

    pub fn next_item(&mut self) -> Item {
        loop {
            if let Some(it) = self.pending.pop_front() {
                return it;
            }
            match self.state {
                Some(s) => self.state = self.step(s),
                None => {
                    // Go's closed channel yields zero items: itemError with empty text at 0
                    return Item {
                        typ: ItemType::Error,
                        pos: 0,
                        val: String::new(),
                        line: 0,
                    };
                }
            }
        }
    }

    fn next(&mut self) -> char {
        if self.pos >= self.input.len() {
            return EOF;
        }
        let r = self.input[self.pos..].chars().next().unwrap_or(EOF);
        self.pos += r.len_utf8();
        if r == '\n' {
            self.line += 1;
        }
        r
    }

    fn backup(&mut self) {
        if self.pos > 0 {
            let r = self.input[..self.pos].chars().next_back().unwrap_or(EOF);
            self.pos -= r.len_utf8();
            if r == '\n' {
                self.line -= 1;
            }
        }
    }

    fn emit(&mut self, typ: ItemType) {
        self.pending.push_back(Item {
            typ,
            pos: self.start,
            val: self.input[self.start..self.pos].to_string(),
            line: self.start_line,
        });
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn ignore(&mut self) {
        self.line += self.input[self.start..self.pos].matches('\n').count();
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn errorf(&mut self, msg: String) -> Option<State> {
        self.pending.push_back(Item {
            typ: ItemType::Error,
            pos: self.start,
            val: msg,
            line: self.start_line,
        });
        None
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos.min(self.input.len())..]
    }

    fn step(&mut self, s: State) -> Option<State> {
        match s {
            State::Text => self.lex_text(),
            State::LeftDelim => self.lex_left_delim(),
            State::Comment => self.lex_comment(),
            State::RightDelim => self.lex_right_delim(),
            State::InsideAction => self.lex_inside_action(),
            State::Space => self.lex_space(),
            State::Identifier => self.lex_identifier(),
            State::Field => self.lex_field_or_variable(ItemType::Field),
            State::Variable => {
                if self.at_terminator() {
                    self.emit(ItemType::Variable);
                    return Some(State::InsideAction);
                }
                self.lex_field_or_variable(ItemType::Variable)
            }
            State::Char => self.lex_char(),
            State::Number => self.lex_number(),
            State::Quote => self.lex_quote(),
            State::RawQuote => self.lex_raw_quote(),
        }
    }

    fn lex_text(&mut self) -> Option<State> {
        if let Some(x) = self.rest().find(LEFT) {
            let ldn = LEFT.len();
            self.pos += x;
            let mut trim = 0;
            if has_left_trim(&self.input[self.pos + ldn..]) {
                let s = &self.input[self.start..self.pos];
                trim = s.len() - s.trim_end_matches([' ', '\t', '\r', '\n']).len();
            }
            self.pos -= trim;
            if self.pos > self.start {
                self.line += self.input[self.start..self.pos].matches('\n').count();
                self.emit(ItemType::Text);
            }
            self.pos += trim;
            self.ignore();
            return Some(State::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += self.input[self.start..self.pos].matches('\n').count();
            self.emit(ItemType::Text);
        }
        self.emit(ItemType::Eof);
        None
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim(rest) && rest[2..].starts_with(RIGHT) {
            return (true, true);
        }
        if rest.starts_with(RIGHT) {
            return (true, false);
        }
        (false, false)
    }

    fn lex_left_delim(&mut self) -> Option<State> {
        self.pos += LEFT.len();
        let trim = has_left_trim(self.rest());
        let after = if trim { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.ignore();
            return Some(State::Comment);
        }
        self.emit(ItemType::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        Some(State::InsideAction)
    }

    fn lex_comment(&mut self) -> Option<State> {
        self.pos += 2;
        let Some(i) = self.rest().find("*/") else {
            return self.errorf("unclosed comment".into());
        };
        self.pos += i + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
        }
        self.ignore();
        Some(State::Text)
    }

    fn lex_right_delim(&mut self) -> Option<State> {
        let trim = has_right_trim(self.rest());
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.emit(ItemType::RightDelim);
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
            self.ignore();
        }
        Some(State::Text)
    }

    fn lex_inside_action(&mut self) -> Option<State> {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Some(State::RightDelim);
            }
            return self.errorf("unclosed left paren".into());
        }
        let was_eof = self.pos >= self.input.len();
        let r = self.next();
        if was_eof {
            return self.errorf("unclosed action".into());
        }
        match r {
            r if is_space(r) => {
                self.backup();
                return Some(State::Space);
            }
            '=' => self.emit(ItemType::Assign),
            ':' => {
                let at_end = self.pos >= self.input.len();
                if at_end || self.next() != '=' {
                    return self.errorf("expected :=".into());
                }
                self.emit(ItemType::Declare);
            }
            '|' => self.emit(ItemType::Pipe),
            '"' => return Some(State::Quote),
            '`' => return Some(State::RawQuote),
            '$' => return Some(State::Variable),
            '\'' => return Some(State::Char),
            '.' => {
                if self.pos < self.input.len() {
                    let c = self.input.as_bytes()[self.pos];
                    if !c.is_ascii_digit() {
                        return Some(State::Field);
                    }
                }
                self.backup();
                return Some(State::Number);
            }
            '+' | '-' | '0'..='9' => {
                self.backup();
                return Some(State::Number);
            }
            r if is_alnum(r) => {
                self.backup();
                return Some(State::Identifier);
            }
            '(' => {
                self.emit(ItemType::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(ItemType::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf(format!("unexpected right paren {}", go_u(r)));
                }
            }
            r if r.is_ascii() && !r.is_ascii_control() => self.emit(ItemType::Char),
            r => return self.errorf(format!("unrecognized character in action: {}", go_u(r))),
        }
        Some(State::InsideAction)
    }

    fn lex_space(&mut self) -> Option<State> {
        let mut num = 0;
        loop {
            if self.pos >= self.input.len() {
                break;
            }
            let r = self.input[self.pos..].chars().next().unwrap_or(EOF);
            if !is_space(r) {
                break;
            }
            self.next();
            num += 1;
        }
        if has_right_trim(&self.input[self.pos - 1..]) && self.input[self.pos - 1 + 2..].starts_with(RIGHT) {
            self.backup();
            if num == 1 {
                return Some(State::RightDelim);
            }
        }
        self.emit(ItemType::Space);
        Some(State::InsideAction)
    }

    /// The rune under pos without consuming it; None at the end of input.
    fn peek_rune(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn at_terminator(&self) -> bool {
        match self.peek_rune() {
            None => true,
            Some(r) if is_space(r) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT),
        }
    }

    fn bad_char(&mut self) -> Option<State> {
        let r = self.peek_rune();
        // Go reports the rune it stopped at (eof is -1)
        let text = match r {
            Some(r) => go_u(r),
            None => "U+FFFFFFFFFFFFFFFF".to_string(),
        };
        self.errorf(format!("bad character {text}"))
    }

    fn lex_identifier(&mut self) -> Option<State> {
        while let Some(r) = self.peek_rune() {
            if !is_alnum(r) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            return self.bad_char();
        }
        let word = &self.input[self.start..self.pos];
        if let Some(k) = keyword(word) {
            self.emit(k);
        } else if word.starts_with('.') {
            self.emit(ItemType::Field);
        } else if word == "true" || word == "false" {
            self.emit(ItemType::Bool);
        } else {
            self.emit(ItemType::Identifier);
        }
        Some(State::InsideAction)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> Option<State> {
        if self.at_terminator() {
            self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
            return Some(State::InsideAction);
        }
        while let Some(r) = self.peek_rune() {
            if !is_alnum(r) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            return self.bad_char();
        }
        self.emit(typ);
        Some(State::InsideAction)
    }

    fn lex_char(&mut self) -> Option<State> {
        loop {
            if self.pos >= self.input.len() {
                return self.errorf("unterminated character constant".into());
            }
            match self.next() {
                '\\' => {
                    if self.pos >= self.input.len() {
                        return self.errorf("unterminated character constant".into());
                    }
                    if self.next() == '\n' {
                        return self.errorf("unterminated character constant".into());
                    }
                }
                '\n' => return self.errorf("unterminated character constant".into()),
                '\'' => break,
                _ => {}
            }
        }
        self.emit(ItemType::CharConstant);
        Some(State::InsideAction)
    }

    fn lex_number(&mut self) -> Option<State> {
        if !self.scan_number() {
            let t = self.input[self.start..self.pos].to_string();
            return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&t, false)));
        }
        if let Some('+' | '-') = self.peek_rune() {
            if !self.scan_number() || self.input.as_bytes()[self.pos - 1] != b'i' {
                let t = self.input[self.start..self.pos].to_string();
                return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&t, false)));
            }
            self.emit(ItemType::Complex);
        } else {
            self.emit(ItemType::Number);
        }
        Some(State::InsideAction)
    }

    fn accept_c(&mut self, valid: &str) -> bool {
        match self.peek_rune() {
            Some(r) if valid.contains(r) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run_c(&mut self, valid: &str) {
        while self.accept_c(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept_c("+-");
        let mut digits = "0123456789_";
        if self.accept_c("0") {
            if self.accept_c("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept_c("oO") {
                digits = "01234567_";
            } else if self.accept_c("bB") {
                digits = "01_";
            }
        }
        self.accept_run_c(digits);
        if self.accept_c(".") {
            self.accept_run_c(digits);
        }
        if digits.len() == 11 && self.accept_c("eE") {
            self.accept_c("+-");
            self.accept_run_c("0123456789_");
        }
        if digits.len() == 23 && self.accept_c("pP") {
            self.accept_c("+-");
            self.accept_run_c("0123456789_");
        }
        self.accept_c("i");
        if let Some(r) = self.peek_rune()
            && is_alnum(r)
        {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Option<State> {
        loop {
            if self.pos >= self.input.len() {
                return self.errorf("unterminated quoted string".into());
            }
            match self.next() {
                '\\' => {
                    if self.pos >= self.input.len() || self.next() == '\n' {
                        return self.errorf("unterminated quoted string".into());
                    }
                }
                '\n' => return self.errorf("unterminated quoted string".into()),
                '"' => break,
                _ => {}
            }
        }
        self.emit(ItemType::String);
        Some(State::InsideAction)
    }

    fn lex_raw_quote(&mut self) -> Option<State> {
        loop {
            if self.pos >= self.input.len() {
                return self.errorf("unterminated raw quoted string".into());
            }
            if self.next() == '`' {
                break;
            }
        }
        self.emit(ItemType::RawString);
        Some(State::InsideAction)
    }
}

/// Go's `%#U`: `U+0041 'A'`.
pub(crate) fn go_u(r: char) -> String {
    let mut s = format!("U+{:04X}", r as u32);
    if crate::gofmt::is_print(r) {
        s.push_str(&format!(" '{r}'"));
    }
    s
}

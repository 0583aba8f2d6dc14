//! A schema-agnostic, allocation-free JSON tokenizer over raw bytes: just enough to walk Binance's
//! objects and arrays and hand out byte slices of values. Strings are returned raw (between the
//! quotes, escapes not decoded — Binance keys, symbols and decimals never contain any); numbers are
//! returned as their text. Nesting is bounded ([`MAX_DEPTH`]) and skipped iteratively.

use crate::feed::DecodeError;

/// Deepest container nesting accepted when skipping a value.
pub const MAX_DEPTH: usize = 32;

/// Bytes that matter when skipping a container: quotes and brackets.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t
};

/// One JSON value as a slice of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string's raw content (between the quotes).
    Str(&'a [u8]),
    /// A number's text.
    Num(&'a [u8]),
    /// An array, brackets included.
    Arr(&'a [u8]),
    /// An object, braces included.
    Obj(&'a [u8]),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A cursor over JSON bytes.
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[cold]
#[inline(never)]
fn malformed(at: usize, expected: &'static str) -> DecodeError {
    DecodeError::Malformed { at, expected }
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The current byte offset.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.buf.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-blank byte, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    /// Consumes `c` (after blanks) or fails.
    #[inline]
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<(), DecodeError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(malformed(self.pos, what))
        }
    }

    /// True (and consumed) if the next byte is `c`.
    #[inline]
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// True when only blanks remain.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string's raw content; the cursor must be at its opening quote.
    #[inline]
    pub fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        self.expect(b'"', "'\"'")?;
        let start = self.pos;
        while let Some(&c) = self.buf.get(self.pos) {
            match c {
                b'"' => {
                    let s = &self.buf[start..self.pos];
                    self.pos += 1;
                    return Ok(s);
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
        Err(malformed(self.pos.min(self.buf.len()), "closing '\"'"))
    }

    #[inline]
    fn number(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        while let Some(&c) = self.buf.get(self.pos) {
            if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(malformed(start, "a value"));
        }
        Ok(&self.buf[start..self.pos])
    }

    fn literal(&mut self, lit: &'static [u8], v: Value<'a>) -> Result<Value<'a>, DecodeError> {
        if self.buf[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(v)
        } else {
            Err(malformed(self.pos, "a literal"))
        }
    }

    /// Skips one container (the cursor at `[` or `{`) and returns its span.
    ///
    /// Hot: Binance level arrays are most of a diff's bytes. Ordinary bytes are skipped through a
    /// class table; strings are skipped inline.
    fn container(&mut self) -> Result<&'a [u8], DecodeError> {
        let buf = self.buf;
        let start = self.pos;
        let mut pos = self.pos;
        let mut depth = 0usize;
        loop {
            while pos < buf.len() && !STRUCTURAL[usize::from(buf[pos])] {
                pos += 1;
            }
            let Some(&c) = buf.get(pos) else { break };
            pos += 1;
            match c {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        self.pos = pos;
                        return Err(DecodeError::TooDeep { max: MAX_DEPTH });
                    }
                }
                b'"' => {
                    // Inside a string: only the closing quote and escapes matter.
                    loop {
                        match buf.get(pos) {
                            Some(b'"') => break,
                            Some(b'\\') => pos += 2,
                            Some(_) => pos += 1,
                            None => {
                                self.pos = buf.len();
                                return Err(malformed(buf.len(), "closing '\"'"));
                            }
                        }
                    }
                    pos += 1;
                }
                _ => {
                    // `]` or `}`; bracket kinds are not matched here, the consumer re-scans strictly.
                    depth -= 1;
                    if depth == 0 {
                        self.pos = pos;
                        return Ok(&buf[start..pos]);
                    }
                }
            }
        }
        self.pos = buf.len();
        Err(malformed(buf.len(), "closing bracket"))
    }

    /// Fast path for one Binance level written compactly as `["<price>","<qty>"]` (no blanks, no
    /// escapes): returns both texts and advances, or returns `None` and leaves the cursor unchanged
    /// (the caller then takes the general path).
    #[inline]
    pub fn compact_pair(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let buf = self.buf;
        let mut pos = self.pos;
        if buf.get(pos..pos + 2)? != b"[\"" {
            return None;
        }
        pos += 2;
        let p0 = pos;
        while *buf.get(pos)? != b'"' {
            if buf[pos] == b'\\' {
                return None;
            }
            pos += 1;
        }
        let p = &buf[p0..pos];
        if buf.get(pos..pos + 3)? != b"\",\"" {
            return None;
        }
        pos += 3;
        let q0 = pos;
        while *buf.get(pos)? != b'"' {
            if buf[pos] == b'\\' {
                return None;
            }
            pos += 1;
        }
        let q = &buf[q0..pos];
        if buf.get(pos..pos + 2)? != b"\"]" {
            return None;
        }
        self.pos = pos + 2;
        Some((p, q))
    }

    /// The next value.
    #[inline]
    pub fn value(&mut self) -> Result<Value<'a>, DecodeError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'[') => self.container().map(Value::Arr),
            Some(b'{') => self.container().map(Value::Obj),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(_) => self.number().map(Value::Num),
            None => Err(malformed(self.pos, "a value")),
        }
    }

    /// Walks one object (the cursor at `{`), calling `f(key, value)` for each member.
    #[inline]
    pub fn object(
        &mut self,
        mut f: impl FnMut(&'a [u8], Value<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.expect(b'{', "'{'")?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "':'")?;
            let v = self.value()?;
            f(key, v)?;
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}', "',' or '}'")?;
            return Ok(());
        }
    }
}

/// Parses an unsigned decimal integer (a Binance id or millisecond time) without allocation.
#[inline]
pub fn parse_u64(text: &[u8], field: &'static str) -> Result<u64, DecodeError> {
    if text.is_empty() || text.len() > 20 {
        return Err(DecodeError::BadInteger { field });
    }
    let mut v: u64 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return Err(DecodeError::BadInteger { field });
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(DecodeError::BadInteger { field })?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_and_values() {
        let mut s =
            Scanner::new(br#" {"a": "x\"y", "b":[1,[2]], "c":{"d":null}, "e":true, "f":-1.5e3}"#);
        let mut seen = Vec::new();
        s.object(|k, v| {
            seen.push((k.to_vec(), v));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0].1, Value::Str(br#"x\"y"#));
        assert_eq!(seen[1].1, Value::Arr(b"[1,[2]]"));
        assert_eq!(seen[2].1, Value::Obj(br#"{"d":null}"#));
        assert_eq!(seen[3].1, Value::Bool(true));
        assert_eq!(seen[4].1, Value::Num(b"-1.5e3"));
        assert!(s.at_end());
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{\"a\":1",
            b"[",
            b"{\"a\":[1,2}",
        ] {
            let mut s = Scanner::new(bad);
            assert!(s.object(|_, _| Ok(())).is_err(), "{bad:?}");
        }
        let deep = [b'['; 100];
        let mut s = Scanner::new(&deep);
        assert!(s.value().is_err());
    }

    #[test]
    fn parses_ids() {
        assert_eq!(parse_u64(b"5123107852948", "u"), Ok(5_123_107_852_948));
        assert!(parse_u64(b"18446744073709551616", "u").is_err());
        assert!(parse_u64(b"-1", "u").is_err());
        assert!(parse_u64(b"", "u").is_err());
    }
}

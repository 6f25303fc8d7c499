//! Reading one row of PostgreSQL's COPY text format (the format `COPY ... TO STDOUT` writes by
//! default): columns separated by a tab, `\N` for NULL, backslash escapes for tab, newline,
//! carriage return, backslash and a few others. Rows end with a newline, which the caller
//! strips. See <https://www.postgresql.org/docs/15/sql-copy.html>, "Text Format".

/// The columns of one row (without its newline); `None` is NULL. Refuses a row that is not
/// valid UTF-8 once unescaped.
pub(super) fn parse_row(line: &[u8]) -> Result<Vec<Option<String>>, String> {
    line.split(|&b| b == b'\t').map(parse_field).collect()
}

fn parse_field(field: &[u8]) -> Result<Option<String>, String> {
    if field == b"\\N" {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(escaped) = bytes.next() else { return Err("a field ends with a lone backslash".to_owned()) };
        match escaped {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                // Up to three octal digits.
                let mut value = u32::from(escaped - b'0');
                for _ in 0..2 {
                    match bytes.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' if bytes.peek().is_some_and(u8::is_ascii_hexdigit) => {
                // Up to two hex digits.
                let mut value = 0u8;
                for _ in 0..2 {
                    match bytes.peek().and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d as u8;
                            bytes.next();
                        }
                        None => break,
                    }
                }
                out.push(value);
            }
            // Any other escaped character stands for itself (`\\` included).
            other => out.push(other),
        }
    }
    String::from_utf8(out).map(Some).map_err(|_| "a field is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_row;

    #[test]
    fn columns_split_on_tabs_and_null_is_backslash_n() {
        let row = parse_row(b"1\tWidget\t\\N\t").expect("parses");
        assert_eq!(row, vec![Some("1".into()), Some("Widget".into()), None, Some(String::new())]);
    }

    #[test]
    fn escapes_are_undone() {
        let row = parse_row(b"a\\tb\\nc\\\\d\\101\\x42\\N").expect("parses");
        assert_eq!(row, vec![Some("a\tb\nc\\dABN".into())]);
    }

    #[test]
    fn a_lone_trailing_backslash_is_refused() {
        assert!(parse_row(b"abc\\").is_err());
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(parse_row(b"\\xff").is_err());
    }
}

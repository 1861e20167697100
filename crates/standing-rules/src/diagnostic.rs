//! Problems found in a model, each located by file, line and column.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {severity}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Turns byte offsets in a file into lines and columns.
pub(crate) struct SourceMap<'a> {
    pub file: &'a str,
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(index, _)| index + 1));
        SourceMap {
            file,
            text,
            line_starts,
        }
    }

    pub fn diagnostic(
        &self,
        severity: Severity,
        offset: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self
            .text
            .get(line_start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Diagnostic {
            severity,
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The byte offset in the file of char `expr_offset` of the TOML string whose value starts
    /// the span at `string_start`. Exact for single-line strings without escapes; otherwise the
    /// string's own start.
    pub fn offset_in_string(&self, string_start: usize, expr_offset: usize) -> usize {
        let rest = &self.text[string_start.min(self.text.len())..];
        let quote_len = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            return string_start;
        } else if rest.starts_with('"') || rest.starts_with('\'') {
            1
        } else {
            return string_start;
        };
        let quote = &rest[..1];
        let body = &rest[quote_len..];
        let end = body.find(quote).unwrap_or(body.len());
        let body = &body[..end];
        if quote == "\"" && body.contains('\\') {
            return string_start;
        }
        let within: usize = body.chars().take(expr_offset).map(char::len_utf8).sum();
        string_start + quote_len + within
    }
}

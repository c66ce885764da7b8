//! What a person sees when a scenario file is wrong: where (file, line, column), what, and
//! how to fix it. Parsing and validation produce a [`Problem`] (a span and words); this
//! module attaches the file so the error can point into it.

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use super::span;

/// A mistake found in a scenario, before the file name and text are attached.
#[derive(Debug)]
pub struct Problem {
    pub span: Range<usize>,
    pub message: String,
    /// Short text shown under the span.
    pub label: String,
    pub help: String,
}

impl Problem {
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Problem {
        Problem { span, message: message.into(), label: String::new(), help: String::new() }
    }

    pub fn label(mut self, label: impl Into<String>) -> Problem {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = help.into();
        self
    }
}

/// A scenario file that cannot be run, and why.
#[derive(Debug)]
pub struct ScenarioError {
    file: String,
    message: String,
    help: String,
    /// The text and the primary span, when the mistake is inside the file. Boxed: errors
    /// travel in `Result`s, and most of their weight is here.
    location: Option<Box<Location>>,
}

#[derive(Debug)]
struct Location {
    source: NamedSource<String>,
    span: Range<usize>,
    label: String,
    line_col: (usize, usize),
}

impl ScenarioError {
    pub(crate) fn new(file: &str, text: &str, problem: Problem) -> ScenarioError {
        // Spans come from the TOML parser, directly or through the raw types; clamp anyway
        // so that a bad span can never make rendering fail.
        let end = problem.span.end.min(text.len());
        let span = problem.span.start.min(end)..end;
        let location = Some(Box::new(Location {
            source: NamedSource::new(file, text.to_string()),
            line_col: span::line_col(text, span.start),
            span,
            label: problem.label,
        }));
        let message = one_line(&problem.message);
        ScenarioError { file: file.into(), message, help: problem.help, location }
    }

    /// The file could not be read at all.
    pub(crate) fn io(file: &str, err: &std::io::Error) -> ScenarioError {
        ScenarioError {
            file: file.into(),
            message: format!("cannot read the scenario file: {err}"),
            help: "check the path and that the file is readable".into(),
            location: None,
        }
    }

    /// The full report for a person: the message, the file's line with the offending span
    /// marked, and how to fix it. Plain text (no colours), so it reads the same in a
    /// terminal, a CI log and a snapshot.
    pub fn render(&self) -> String {
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &Headline(self));
        out
    }

    /// 1-based line and column of the primary span, when the mistake is inside the file.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.location.as_ref().map(|l| l.line_col)
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it.
    pub fn help_text(&self) -> &str {
        &self.help
    }
}

/// One line, as compilers print it, so editors and CI logs can jump to it.
impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col() {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Diagnostic for ScenarioError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.help.is_empty()).then(|| Box::new(&self.help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.location.as_ref().map(|l| &l.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let l = self.location.as_ref()?;
        let label = (!l.label.is_empty()).then(|| l.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_primary_with_span(label, l.span.clone()))))
    }
}

/// Messages quote values from the file, which may hold newlines or other control
/// characters; escaping them keeps `Display` on one line.
fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// The error as `render` shows it: the snippet header already names file, line and
/// column, so the headline is the bare message.
struct Headline<'a>(&'a ScenarioError);

impl fmt::Debug for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.location {
            Some(_) => f.write_str(&self.0.message),
            None => fmt::Display::fmt(self.0, f),
        }
    }
}

impl std::error::Error for Headline<'_> {}

impl Diagnostic for Headline<'_> {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.help()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

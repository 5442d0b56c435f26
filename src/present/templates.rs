//! The templates: HTML escapes every value by default (`.html`), plain text does not
//! (`.txt`); both remove hidden direction and control characters from every value they
//! print, so no scraped or typed string can reverse or disguise what follows it.

use super::catalog::{message, Args, Language};
use super::text::{clean, escape_html};
use super::Ui;
use fluent_bundle::FluentValue;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{
    escape_formatter, AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, Value,
};
use serde::Serialize;
use std::sync::LazyLock;

#[derive(Debug, thiserror::Error)]
#[error("cannot render the {template} template: {source}")]
pub struct RenderError {
    template: String,
    #[source]
    source: Error,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("email.html", include_str!("templates/email.html")),
    ("evidence.html", include_str!("templates/evidence.html")),
    ("evidence.txt", include_str!("templates/evidence.txt")),
    ("alert.html", include_str!("templates/alert.html")),
    ("alert.txt", include_str!("templates/alert.txt")),
    ("digest.html", include_str!("templates/digest.html")),
    ("digest.txt", include_str!("templates/digest.txt")),
    ("operator.html", include_str!("templates/operator.html")),
    ("operator.txt", include_str!("templates/operator.txt")),
    ("page.html", include_str!("templates/page.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("record.html", include_str!("templates/record.html")),
    ("pair.html", include_str!("templates/pair.html")),
    ("review.html", include_str!("templates/review.html")),
    ("case.html", include_str!("templates/case.html")),
    ("brands.html", include_str!("templates/brands.html")),
    ("sources.html", include_str!("templates/sources.html")),
    ("filters.html", include_str!("templates/filters.html")),
    ("linkform.html", include_str!("templates/linkform.html")),
    ("home.html", include_str!("templates/home.html")),
    (
        "unlinked_row.html",
        include_str!("templates/unlinked_row.html"),
    ),
    ("unlinked.html", include_str!("templates/unlinked.html")),
    ("cases.html", include_str!("templates/cases.html")),
    ("post.html", include_str!("templates/post.html")),
    (
        "case_actions.html",
        include_str!("templates/case_actions.html"),
    ),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_formatter(|out, state, value| {
        match value.as_str() {
            Some(text) if !value.is_safe() => {
                let text = clean(text);
                // minijinja's own escaping writes '/' as "&#x2f;", which makes every URL
                // unreadable in the source of a mail; these five are all HTML needs.
                let shown = match state.auto_escape() {
                    AutoEscape::Html => escape_html(&text),
                    _ => text.into_owned(),
                };
                out.write_str(&shown).map_err(Error::from)
            }
            _ => escape_formatter(out, state, value),
        }
    });
    env.add_function("t", translate);
    for (name, source) in TEMPLATES {
        // A broken template fails each render with its error; the tests render them all.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, %error, "template does not parse");
        }
    }
    env
});

/// `t("key", name=value, ...)` in a template: the catalog message in the page's language.
fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let language = match state.lookup("lang").as_ref().and_then(Value::as_str) {
        Some("en") => Language::En,
        _ => Language::ZhCn,
    };
    let mut args = Args::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let value = match value.kind() {
            ValueKind::Number => f64::try_from(value.clone())
                .map(FluentValue::from)
                .map_err(|_| Error::new(ErrorKind::InvalidOperation, "not a number"))?,
            _ => FluentValue::from(value.to_string()),
        };
        args.set(name.to_string(), value);
    }
    kwargs.assert_all_used()?;
    Ok(message(language, key, &args))
}

pub fn render<C: Serialize>(ui: &Ui, template: &str, context: C) -> Result<String, RenderError> {
    let fail = |source| RenderError {
        template: template.to_string(),
        source,
    };
    let env = &*ENVIRONMENT;
    let context = minijinja::context! {
        lang => ui.language.tag(),
        zone_note => ui.zone_note(),
        ..Value::from_serialize(&context)
    };
    env.get_template(template)
        .and_then(|t| t.render(context))
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENVIRONMENT.get_template(name).is_ok(), "{name}");
        }
    }
}

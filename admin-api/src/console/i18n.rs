//! The console's two languages: French first (the seeds' wording), English through the "Langue"
//! switch (a cookie). Every text is written in place as a pair, `lang.t("Nom", "Last name")`, so
//! a missing translation cannot compile; the field errors are translated here, by field and
//! refusal, from the one [`ApiError`] classification.

use sesame_domain::rights::Grant;

use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// `fr` or `en`; anything else is none of them.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
    /// The text in this language.
    pub fn t<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }
    pub fn grant(self, g: Grant) -> String {
        match self {
            Lang::Fr => g.label(),
            Lang::En => g.label_en(),
        }
    }
    /// A date (epoch milliseconds, UTC) as the seed writes it: `26/10/2018`, or `2018-10-26`.
    pub fn date(self, ms: i64) -> String {
        let fmt = self.t("%d/%m/%Y", "%Y-%m-%d");
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format(fmt).to_string())
            .unwrap_or_default()
    }
    /// A date and time (UTC).
    pub fn date_time(self, ms: i64) -> String {
        let fmt = self.t("%d/%m/%Y %H:%M UTC", "%Y-%m-%d %H:%M UTC");
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format(fmt).to_string())
            .unwrap_or_default()
    }

    /// What a refusal says to the person at the form, in this language. Field errors say what
    /// to fix in the seeds' words; the API's English message stays the detail of the rest.
    pub fn error(self, e: &ApiError) -> String {
        let english = e.message();
        // The part of the API message after "field: ".
        let detail = english
            .split_once(": ")
            .filter(|(f, _)| Some(*f) == e.field())
            .map_or(english.as_str(), |(_, d)| d)
            .to_owned();
        let missing = detail.starts_with("missing field")
            || detail == "is required"
            || detail == "must not be empty";
        if self == Lang::En {
            return if missing {
                "This field is required.".to_owned()
            } else {
                detail
            };
        }
        let code = e.code();
        let fr = match (code, detail.as_str()) {
            ("bad_credentials", _) => "Identifiant ou mot de passe incorrect.".to_owned(),
            ("too_many_attempts", _) => {
                "Trop de tentatives de connexion : réessayez dans quelques minutes.".to_owned()
            }
            ("busy" | "unavailable" | "too_many_requests", _) => {
                "Le service est momentanément indisponible : réessayez dans un instant.".to_owned()
            }
            ("internal", _) => "Une erreur interne est survenue.".to_owned(),
            ("not_found", _) => "Introuvable.".to_owned(),
            ("conflict", _) => "Cette valeur est déjà utilisée.".to_owned(),
            ("delegation", _) => format!(
                "Vous ne pouvez pas donner le droit : {}",
                e.right()
                    .and_then(|r| Grant::parse(r).ok())
                    .map_or_else(|| detail.clone(), |g| g.label())
            ),
            _ if missing => "Ce champ est obligatoire.".to_owned(),
            (_, "wrong operator token") => "Jeton opérateur incorrect.".to_owned(),
            (_, "does not match") => "Les deux saisies ne correspondent pas.".to_owned(),
            (_, "is not the current password") => {
                "Ce n'est pas votre mot de passe actuel.".to_owned()
            }
            (_, "must be 8 to 128 characters") => "8 à 128 caractères.".to_owned(),
            (_, "must contain a letter and a digit") => {
                "Au moins une lettre et un chiffre.".to_owned()
            }
            (_, "is not a valid e-mail address") => "Adresse e-mail invalide.".to_owned(),
            (_, "must be exactly 6 digits") => {
                "Le numéro de compte compte exactement 6 chiffres.".to_owned()
            }
            (_, "must be 32 hexadecimal characters") => {
                "La clé utilisateur compte 32 caractères hexadécimaux.".to_owned()
            }
            (_, d) if d.starts_with("must be at most") => {
                format!("Trop long ({}).", d.trim_start_matches("must be "))
            }
            (_, d) => format!("Saisie invalide : {d}"),
        };
        fr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_in_french_name_what_to_fix() {
        let e = ApiError::invalid("lastName", "lastName: is required");
        assert_eq!(Lang::Fr.error(&e), "Ce champ est obligatoire.");
        assert_eq!(Lang::En.error(&e), "This field is required.");
        let e = ApiError::invalid("lastName", "lastName: missing field `lastName`");
        assert_eq!(Lang::Fr.error(&e), "Ce champ est obligatoire.");
        let e = ApiError::invalid("emailConfirmation", "emailConfirmation: does not match");
        assert_eq!(Lang::Fr.error(&e), "Les deux saisies ne correspondent pas.");
        assert_eq!(
            Lang::Fr.error(&ApiError::BadCredentials),
            "Identifiant ou mot de passe incorrect."
        );
        assert_eq!(Lang::Fr.date(0), "01/01/1970");
        assert_eq!(Lang::En.date(0), "1970-01-01");
    }
}

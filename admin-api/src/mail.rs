//! E-mails: French templates first (worded like seed 000 §5.1), English too. Every mail goes to
//! the outbox; when SMTP is configured a sender hands the outbox to the SMTP server.

use std::time::Duration;

use sesame_domain::rights::Grant;
use sesame_domain::RightSet;
use sesame_store::Store;
use tokio::sync::watch;

use crate::config::SmtpConfig;

pub struct Mail {
    pub subject: String,
    pub body: String,
    /// A live link in the body (invitation, password reset): sealed at rest in the outbox,
    /// never stored in clear (see `Store::enqueue_mail_sealed`).
    pub secret: Option<String>,
}

const FOOTER_FR: &str = "Pour toute question, le Centre de Service reste à votre disposition.\n\n\
Nous vous remercions de votre confiance.\n\nL'équipe Sesame";
const FOOTER_EN: &str = "If you have any question, our Service Centre is at your disposal.\n\n\
Thank you for your trust.\n\nThe Sesame team";

pub fn is_en(lang: &str) -> bool {
    lang.eq_ignore_ascii_case("en")
}

pub fn invitation(lang: &str, company: &str, link: &str) -> Mail {
    if is_en(lang) {
        Mail {
            subject: "Gestion des utilisateurs - finalise your user account".into(),
            body: format!(
                "Dear Sir or Madam,\n\nA user account has just been requested for you by {company}.\n\n\
                 To finalise the creation of your account, please follow the link below:\n\n{link}\n\n\
                 For security reasons, this link stays valid for 48 hours.\n\n{FOOTER_EN}\n"
            ),
            secret: Some(link.to_owned()),
        }
    } else {
        Mail {
            subject: "Gestion des utilisateurs - finalisez la création de votre compte".into(),
            body: format!(
                "Madame, Monsieur,\n\nUne demande de création de compte utilisateur vient d'être faite par {company}\n\n\
                 Afin de finaliser la création de votre compte, nous vous invitons à vous rendre sur le lien ci-dessous:\n\n\
                 {link}\n\nPour des raisons de sécurité, ce lien restera valide 48h.\n\n{FOOTER_FR}\n"
            ),
            secret: Some(link.to_owned()),
        }
    }
}

fn labels(rights: RightSet, en: bool) -> String {
    let items: Vec<String> = rights
        .grants()
        .map(|g: Grant| format!("- {}", if en { g.label_en() } else { g.label() }))
        .collect();
    if items.is_empty() {
        if en {
            "- (no right for now)".into()
        } else {
            "- (aucun droit pour le moment)".into()
        }
    } else {
        items.join("\n")
    }
}

/// Seed 000 §5.1: "De nouveaux droits vous ont été attribués par …".
pub fn rights_granted(lang: &str, company: &str, rights: RightSet) -> Mail {
    if is_en(lang) {
        Mail {
            subject: "Gestion des utilisateurs - new rights".into(),
            body: format!(
                "Dear Sir or Madam,\n\nNew rights have been granted to you by {company}:\n\n{}\n\n\
                 You can find this information and your user key under \"My account > Edit my account\".\n\n{FOOTER_EN}\n",
                labels(rights, true)
            ),
            secret: None,
        }
    } else {
        Mail {
            subject: "Gestion des utilisateurs - nouveaux droits".into(),
            body: format!(
                "Madame, Monsieur,\n\nDe nouveaux droits vous ont été attribués par {company} :\n\n{}\n\n\
                 Vous pouvez retrouver ces informations ainsi que votre clé utilisateur dans la rubrique \
                 \" Mon compte > Editer mon compte \".\n\n{FOOTER_FR}\n",
                labels(rights, false)
            ),
            secret: None,
        }
    }
}

/// The rights that remain, account by account ("- Société : droit, droit"), or that none does.
fn remaining(per_account: &[(String, RightSet)], en: bool) -> String {
    let items: Vec<String> = per_account
        .iter()
        .map(|(company, rights)| {
            let names: Vec<String> = rights
                .grants()
                .map(|g| if en { g.label_en() } else { g.label() })
                .collect();
            let names = if names.is_empty() {
                if en {
                    "no right".to_owned()
                } else {
                    "aucun droit".to_owned()
                }
            } else {
                names.join(", ")
            };
            format!("- {company} : {names}")
        })
        .collect();
    if items.is_empty() {
        if en {
            "- (you are no longer linked to any account)".into()
        } else {
            "- (vous n'êtes plus rattaché à aucun compte)".into()
        }
    } else {
        items.join("\n")
    }
}

/// Rights withdrawn on an account (`unlinked`: the link itself removed): what happened, and
/// the rights that remain on every account the user is still linked to.
pub fn rights_withdrawn(
    lang: &str,
    company: &str,
    unlinked: bool,
    remain: &[(String, RightSet)],
) -> Mail {
    let en = is_en(lang);
    let list = remaining(remain, en);
    let (subject, what) = match (en, unlinked) {
        (true, true) => (
            "Gestion des utilisateurs - your rights have been withdrawn",
            format!("{company} has removed your access to its account: your rights on it have been withdrawn."),
        ),
        (true, false) => (
            "Gestion des utilisateurs - your rights have been changed",
            format!("Your rights have been changed by {company}: some of them have been withdrawn."),
        ),
        (false, true) => (
            "Gestion des utilisateurs - vos droits ont été retirés",
            format!("{company} a retiré votre accès à son compte : vos droits sur ce compte vous ont été retirés."),
        ),
        (false, false) => (
            "Gestion des utilisateurs - vos droits ont été modifiés",
            format!("Vos droits ont été modifiés par {company} : certains vous ont été retirés."),
        ),
    };
    let body = if en {
        format!("Dear Sir or Madam,\n\n{what}\n\nThe rights you hold now, per account:\n\n{list}\n\n{FOOTER_EN}\n")
    } else {
        format!("Madame, Monsieur,\n\n{what}\n\nVoici les droits qui vous restent, par compte :\n\n{list}\n\n{FOOTER_FR}\n")
    };
    Mail {
        subject: subject.into(),
        body,
        secret: None,
    }
}

pub fn password_reset(lang: &str, link: &str) -> Mail {
    if is_en(lang) {
        Mail {
            subject: "Gestion des utilisateurs - reset your password".into(),
            body: format!(
                "Dear Sir or Madam,\n\nA new password was requested for your user account.\n\n\
                 To choose it, please follow the link below:\n\n{link}\n\nFor security reasons, this link stays valid for 24 hours.\n\n{FOOTER_EN}\n"
            ),
            secret: Some(link.to_owned()),
        }
    } else {
        Mail {
            subject: "Gestion des utilisateurs - réinitialisation de votre mot de passe".into(),
            body: format!(
                "Madame, Monsieur,\n\nUn nouveau mot de passe a été demandé pour votre compte utilisateur.\n\n\
                 Afin de le choisir, nous vous invitons à vous rendre sur le lien ci-dessous:\n\n{link}\n\n\
                 Pour des raisons de sécurité, ce lien restera valide 24h.\n\n{FOOTER_FR}\n"
            ),
            secret: Some(link.to_owned()),
        }
    }
}

/// Queues a mail in the outbox. A failure to queue is logged, not fatal: the change it follows is
/// committed already, and the admin can resend.
/// Seed 000 §5.1 / §6: tells a user which rights it now holds on an account (if it has an
/// e-mail address). Best effort, like every mail: a queueing failure is logged.
pub async fn notify_rights(
    store: &Store,
    user: &sesame_domain::User,
    company: &str,
    rights: RightSet,
    lang: &str,
) {
    if let Some(to) = user.profile.email.as_ref() {
        send(
            store,
            to.as_str(),
            &rights_granted(lang, company, rights),
            lang,
        )
        .await;
    }
}

/// What a change of a user's rights on an account says to the user (issue 15): granting sends
/// "De nouveaux droits vous ont été attribués" listing what was granted; withdrawing sends "vos
/// droits ont été modifiés" listing the rights that remain on each account; a change that does
/// both sends both; an unchanged set sends nothing.
pub async fn notify_rights_change(
    store: &Store,
    user: &sesame_domain::User,
    company: &str,
    old: RightSet,
    new: RightSet,
    lang: &str,
) {
    let Some(to) = user.profile.email.as_ref() else {
        return;
    };
    let granted = new
        .grants()
        .filter(|g| !old.has_grant(*g))
        .fold(RightSet::EMPTY, RightSet::grant);
    if !granted.is_empty() {
        send(
            store,
            to.as_str(),
            &rights_granted(lang, company, granted),
            lang,
        )
        .await;
    }
    if old.grants().any(|g| !new.has_grant(g)) {
        notify_withdrawn(store, user, company, false, lang).await;
    }
}

/// The user lost rights on `company`'s account (or, `unlinked`, the link itself): the mail
/// lists the rights that remain on every account the user is still linked to.
pub async fn notify_withdrawn(
    store: &Store,
    user: &sesame_domain::User,
    company: &str,
    unlinked: bool,
    lang: &str,
) {
    let Some(to) = user.profile.email.as_ref() else {
        return;
    };
    let mut remain = Vec::new();
    match store.links_of_user(user.id).await {
        Ok(links) => {
            for l in links {
                match store.account(l.account_id).await {
                    Ok(a) => remain.push((a.company, l.rights)),
                    Err(e) => tracing::warn!(error = %e, "rights mail: account unreadable"),
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "rights mail: links unreadable; not sent");
            return;
        }
    }
    send(
        store,
        to.as_str(),
        &rights_withdrawn(lang, company, unlinked, &remain),
        lang,
    )
    .await;
}

/// The link of an invitation e-mail (the API's own URL: a browser gets the form).
pub fn invitation_link(public_url: &str, token: &str) -> String {
    format!(
        "{}/admin/v1/invitations/{token}",
        public_url.trim_end_matches('/')
    )
}

/// The link of a password-reset e-mail.
pub fn password_reset_link(public_url: &str, token: &str) -> String {
    format!(
        "{}/admin/v1/password-resets/{token}",
        public_url.trim_end_matches('/')
    )
}

/// The address of a user's mails (empty when it has none).
pub fn address_of(user: &sesame_domain::User) -> String {
    user.profile
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default()
}

/// Queues an invitation to `user` from `company`: the address it went to and whether it was
/// queued.
pub async fn send_invitation(
    store: &Store,
    public_url: &str,
    user: &sesame_domain::User,
    company: &str,
    token: &str,
    lang: &str,
) -> (String, bool) {
    let to = address_of(user);
    let link = invitation_link(public_url, token);
    let queued = send(store, &to, &invitation(lang, company, &link), lang).await;
    (to, queued)
}

pub async fn send(store: &Store, to: &str, mail: &Mail, lang: &str) -> bool {
    let queued = match &mail.secret {
        Some(secret) => {
            store
                .enqueue_mail_sealed(to, &mail.subject, &mail.body, secret, lang)
                .await
        }
        None => {
            store
                .enqueue_mail(to, &mail.subject, &mail.body, lang)
                .await
        }
    };
    match queued {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not queue an e-mail");
            false
        }
    }
}

/// Hands unsent outbox mails to the SMTP server until `stop` turns true.
pub async fn smtp_sender(store: Store, smtp: SmtpConfig, mut stop: watch::Receiver<bool>) {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let builder = if smtp.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
    } else {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &smtp.host,
        ))
    };
    let mut builder = match builder {
        Ok(b) => b.port(smtp.port),
        Err(e) => {
            tracing::error!(error = %e, "SMTP configuration refused; mails stay in the outbox");
            return;
        }
    };
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    let transport = builder.build();
    let from = match smtp.from.parse::<lettre::message::Mailbox>() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "smtp.from is not a mailbox; mails stay in the outbox");
            return;
        }
    };
    loop {
        if *stop.borrow() {
            return;
        }
        match store.unsent_mail(50).await {
            Ok(mails) => {
                for m in mails.into_iter().filter(|m| m.error.is_none()) {
                    let result = match m.to.parse::<lettre::message::Mailbox>() {
                        Err(e) => Err(format!("bad recipient: {e}")),
                        Ok(to) => match Message::builder()
                            .from(from.clone())
                            .to(to)
                            .subject(m.subject.clone())
                            .header(lettre::message::header::ContentType::TEXT_PLAIN)
                            .body(m.body.clone())
                        {
                            Err(e) => Err(e.to_string()),
                            Ok(msg) => transport
                                .send(msg)
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string()),
                        },
                    };
                    let err = result.err();
                    if let Some(e) = &err {
                        tracing::warn!(mail = m.id, error = %e, "SMTP delivery failed");
                    }
                    let _ = store.mark_mail(m.id, err.as_deref()).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
    }
}

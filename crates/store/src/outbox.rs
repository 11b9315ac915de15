use serde::Serialize;
use sesame_domain::model::{now_millis, Millis};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::Result;

/// Where a sealed secret starts and ends in a stored body.
const SEAL_OPEN: &str = "[sealed:";
const SEAL_CLOSE: &str = "]";
/// What a sealed secret reads as once masked (and for ever once the mail is sent).
pub const MASK: &str = "[link withheld: see the e-mail]";

/// An e-mail waiting in (or sent from) the outbox. Without SMTP configured, the outbox is where
/// the demo and tests read what would have been sent.
///
/// Live links (invitations, password resets) are never stored in clear: the stored body holds
/// them sealed with the store's encryption key (AES-256-GCM, like the upstream passwords), so
/// the database or a backup alone gives no usable link. [`Store::outbox`] shows them masked,
/// [`Store::outbox_live`] unsealed; once a mail is sent the sealed copy is dropped.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMail {
    pub id: i64,
    pub at: Millis,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub lang: String,
    pub sent_at: Option<Millis>,
    pub error: Option<String>,
}

impl Store {
    pub async fn enqueue_mail(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        lang: &str,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO outbox (at, to_addr, subject, body, lang) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(now_millis())
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(lang)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Queues a mail whose body holds `secret` (a live link): every occurrence is sealed.
    pub async fn enqueue_mail_sealed(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        secret: &str,
        lang: &str,
    ) -> Result<i64> {
        let sealed = if secret.is_empty() {
            body.to_owned()
        } else {
            let ct = self.cipher().encrypt(secret.as_bytes());
            body.replace(secret, &format!("{SEAL_OPEN}{}{SEAL_CLOSE}", to_hex(&ct)))
        };
        self.enqueue_mail(to, subject, &sealed, lang).await
    }

    /// The newest mails first, live links masked; `to` filters by recipient.
    pub async fn outbox(&self, to: Option<&str>, limit: i64) -> Result<Vec<OutboxMail>> {
        let mut mails = self.outbox_stored(to, limit).await?;
        for m in &mut mails {
            m.body = render(&m.body, |_| MASK.to_owned());
        }
        Ok(mails)
    }

    /// One mail, live links masked; `None` if there is no such mail.
    pub async fn outbox_mail(&self, id: i64) -> Result<Option<OutboxMail>> {
        Ok(self.outbox_one(id).await?.map(|mut m| {
            m.body = render(&m.body, |_| MASK.to_owned());
            m
        }))
    }

    /// One mail, live links unsealed (the outbox view when the outbox is the delivery channel).
    pub async fn outbox_mail_live(&self, id: i64) -> Result<Option<OutboxMail>> {
        Ok(self.outbox_one(id).await?.map(|mut m| {
            m.body = self.unseal(&m.body);
            m
        }))
    }

    /// The newest mails first, live links unsealed: for delivery (SMTP, or the outbox view when
    /// the outbox is the delivery channel). A link that no longer unseals (another key) shows
    /// masked.
    pub async fn outbox_live(&self, to: Option<&str>, limit: i64) -> Result<Vec<OutboxMail>> {
        let mut mails = self.outbox_stored(to, limit).await?;
        for m in &mut mails {
            m.body = self.unseal(&m.body);
        }
        Ok(mails)
    }

    /// `body` with its sealed links decrypted; one that no longer unseals shows masked.
    fn unseal(&self, body: &str) -> String {
        render(body, |hex| {
            from_hex(hex)
                .and_then(|ct| self.cipher().decrypt(&ct).ok())
                .and_then(|pt| String::from_utf8(pt).ok())
                .unwrap_or_else(|| MASK.to_owned())
        })
    }

    async fn outbox_stored(&self, to: Option<&str>, limit: i64) -> Result<Vec<OutboxMail>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE ($1 IS NULL OR to_addr = $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(to.map(str::to_owned))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mail_from_row).collect()
    }

    async fn outbox_one(&self, id: i64) -> Result<Option<OutboxMail>> {
        let row = sqlx::query(&format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(mail_from_row).transpose()
    }

    /// Mails not yet handed to SMTP, oldest first, live links unsealed.
    pub async fn unsent_mail(&self, limit: i64) -> Result<Vec<OutboxMail>> {
        let mut all = self.outbox_live(None, 1000).await?;
        all.retain(|m| m.sent_at.is_none());
        all.reverse();
        all.truncate(limit.max(0) as usize);
        Ok(all)
    }

    /// Records a delivery (or its error). A delivered mail keeps only its masked body: the
    /// sealed link has no further use.
    pub async fn mark_mail(&self, id: i64, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE outbox SET sent_at = $1, error = $2 WHERE id = $3")
            .bind(error.is_none().then(now_millis))
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if error.is_none() {
            let row = sqlx::query("SELECT body FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(r) = row {
                let body: String = r.try_get("body")?;
                let masked = render(&body, |_| MASK.to_owned());
                if masked != body {
                    sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2")
                        .bind(masked)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

const OUTBOX_COLS: &str = "id, at, to_addr, subject, body, lang, sent_at, error";

fn mail_from_row(r: &AnyRow) -> Result<OutboxMail> {
    Ok(OutboxMail {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        to: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        lang: r.try_get("lang")?,
        sent_at: r.try_get("sent_at")?,
        error: r.try_get("error")?,
    })
}

/// `body` with each sealed secret replaced by `f(its hex)`.
fn render(body: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find(SEAL_OPEN) {
        let after = &rest[i + SEAL_OPEN.len()..];
        let Some(j) = after.find(SEAL_CLOSE) else {
            break;
        };
        out.push_str(&rest[..i]);
        out.push_str(&f(&after[..j]));
        rest = &after[j + SEAL_CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

fn to_hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    #[test]
    fn render_replaces_each_sealed_part_and_keeps_the_rest() {
        let r = super::render("a [sealed:00ff] b [sealed:01] c [sealed:", |h| {
            format!("<{h}>")
        });
        assert_eq!(r, "a <00ff> b <01> c [sealed:");
        assert_eq!(super::from_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(super::from_hex("0"), None);
        assert_eq!(super::from_hex("zz"), None);
        assert_eq!(super::to_hex(&[0, 255, 16]), "00ff10");
    }
}

//! The commerce back-end's data (a B2B shop, seed 004): per account, orders (carts until
//! validated) and delivery addresses kept in memory, and commercial documents (quotes, orders,
//! invoices, delivery notes) generated deterministically from the seed, each with its contact
//! (a stamp's user key) and department.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::SimAccount;
use crate::rng::{hash, SplitMix64};

/// Orders one account may hold; past it, creation is refused (a stranger cannot grow memory).
pub const MAX_ORDERS: usize = 1_000;
/// Addresses one account may hold.
pub const MAX_ADDRESSES: usize = 200;
/// Documents generated per account.
pub const DOCUMENTS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    /// `cart`, then `validated`.
    pub status: &'static str,
    pub reference: Option<String>,
    pub address_id: Option<String>,
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub id: String,
    pub label: String,
    pub street: String,
    pub zip_code: String,
    pub city: String,
    pub country_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: String,
    /// `quote`, `order`, `invoice` or `delivery_note`.
    pub kind: &'static str,
    pub date: String,
    pub account_number: String,
    pub amount_ttc: String,
    /// The contact the document concerns (a stamp's user key), if any.
    pub contact: Option<String>,
    pub department: Option<String>,
}

#[derive(Default)]
struct Shop {
    orders: Vec<Order>,
    addresses: Vec<Address>,
    next: u64,
}

/// Every account's shop.
#[derive(Default)]
pub(crate) struct Shops {
    shops: Mutex<HashMap<String, Shop>>,
}

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Unknown,
    AlreadyValidated,
    Full,
}

fn seeded_addresses(account: &str) -> Vec<Address> {
    vec![
        Address {
            id: format!("A-{account}-1"),
            label: "Siège".into(),
            street: "1 rue de la Paix".into(),
            zip_code: "75002".into(),
            city: "Paris".into(),
            country_code: "FR".into(),
        },
        Address {
            id: format!("A-{account}-2"),
            label: "Entrepôt".into(),
            street: "12 avenue des Docks".into(),
            zip_code: "69007".into(),
            city: "Lyon".into(),
            country_code: "FR".into(),
        },
    ]
}

impl Shops {
    fn with<T>(&self, account: &str, f: impl FnOnce(&mut Shop) -> T) -> T {
        let mut all = self.shops.lock().unwrap_or_else(PoisonError::into_inner);
        let shop = all.entry(account.to_owned()).or_insert_with(|| Shop {
            addresses: seeded_addresses(account),
            next: 3,
            ..Shop::default()
        });
        f(shop)
    }

    pub(crate) fn orders(&self, account: &str) -> Vec<Order> {
        self.with(account, |s| s.orders.clone())
    }

    pub(crate) fn create_order(
        &self,
        account: &str,
        reference: Option<String>,
        address_id: Option<String>,
        lines: Vec<OrderLine>,
    ) -> Result<Order, Refused> {
        self.with(account, |s| {
            if s.orders.len() >= MAX_ORDERS {
                return Err(Refused::Full);
            }
            if let Some(a) = &address_id {
                if !s.addresses.iter().any(|x| &x.id == a) {
                    return Err(Refused::Unknown);
                }
            }
            s.next += 1;
            let o = Order {
                id: format!("O-{account}-{}", s.next),
                status: "cart",
                reference,
                address_id,
                lines,
            };
            s.orders.push(o.clone());
            Ok(o)
        })
    }

    pub(crate) fn validate_order(&self, account: &str, id: &str) -> Result<Order, Refused> {
        self.with(account, |s| {
            let o = s
                .orders
                .iter_mut()
                .find(|o| o.id == id)
                .ok_or(Refused::Unknown)?;
            if o.status == "validated" {
                return Err(Refused::AlreadyValidated);
            }
            o.status = "validated";
            Ok(o.clone())
        })
    }

    pub(crate) fn addresses(&self, account: &str) -> Vec<Address> {
        self.with(account, |s| s.addresses.clone())
    }

    /// Creates (`id` None) or replaces an address.
    pub(crate) fn put_address(
        &self,
        account: &str,
        id: Option<&str>,
        mut a: Address,
    ) -> Result<Address, Refused> {
        self.with(account, |s| match id {
            Some(id) => {
                let slot = s
                    .addresses
                    .iter_mut()
                    .find(|x| x.id == id)
                    .ok_or(Refused::Unknown)?;
                a.id = id.to_owned();
                *slot = a.clone();
                Ok(a)
            }
            None => {
                if s.addresses.len() >= MAX_ADDRESSES {
                    return Err(Refused::Full);
                }
                s.next += 1;
                a.id = format!("A-{account}-{}", s.next);
                s.addresses.push(a.clone());
                Ok(a)
            }
        })
    }
}

const KINDS: [&str; 4] = ["quote", "order", "invoice", "delivery_note"];

/// The account's documents, newest first: the same for a seed, an account and its stamps. One
/// in five concerns no contact; the others a stamp's user, in that user's department (else one
/// of the account's).
pub(crate) fn documents(seed: u64, account: &SimAccount, today: NaiveDate) -> Vec<Document> {
    (0..DOCUMENTS)
        .map(|i| {
            let n = i.to_string();
            let mut rng = SplitMix64::new(hash(seed, &["document", &account.number, &n]));
            let stamp = match account.stamps.len() {
                0 => None,
                len => {
                    let pick = rng.below(len as u64 * 5 / 4 + 1) as usize;
                    account.stamps.get(pick)
                }
            };
            let department = match stamp {
                Some(s) => s.department.clone().or_else(|| {
                    (!account.departments.is_empty())
                        .then(|| rng.pick(&account.departments).clone())
                }),
                None => (!account.departments.is_empty() && rng.chance(0.5))
                    .then(|| rng.pick(&account.departments).clone()),
            };
            let cents = 1_000 + rng.below(500_000);
            let date = today - chrono::Days::new(3 * i as u64);
            Document {
                id: format!("DOC-{}-{i:02}", account.number),
                kind: KINDS[i % KINDS.len()],
                date: date.format("%Y-%m-%d").to_string(),
                account_number: account.number.clone(),
                amount_ttc: format!("{}.{:02}", cents / 100, cents % 100),
                contact: stamp.map(|s| s.user_key.clone()),
                department,
            }
        })
        .collect()
}

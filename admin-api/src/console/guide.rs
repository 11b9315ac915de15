//! "Guide d'utilisation": the user guide of this console, as a page (seed 000 §3 asks for a
//! guide to download; a page prints as well and follows the language switch).

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::layout::page;
use super::session::Visitor;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/guide", get(guide))
}

async fn guide(v: Visitor) -> Response {
    let body = if v.lang == super::i18n::Lang::Fr {
        fr()
    } else {
        en()
    };
    page(&v, v.t("Guide d'utilisation", "User guide"), body)
}

fn fr() -> maud::Markup {
    html! {
        div.guide {
            nav aria-label="Sommaire" {
                ol {
                    li { a href="#connexion" { "Se connecter" } }
                    li { a href="#utilisateurs" { "Utilisateurs standards et avancés" } }
                    li { a href="#standard" { "Ajouter un utilisateur standard" } }
                    li { a href="#avance" { "Ajouter un utilisateur avancé" } }
                    li { a href="#import" { "Ajouter des utilisateurs avancés par fichier" } }
                    li { a href="#associer" { "Associer un utilisateur avancé" } }
                    li { a href="#tableau" { "Le tableau des utilisateurs, l'export" } }
                    li { a href="#modifier" { "Modifier un utilisateur, supprimer un lien" } }
                    li { a href="#cles" { "Clé utilisateur et clé de connexion" } }
                }
            }
            section #connexion {
                h2 { "1. Se connecter" }
                p { "Sur la page « Connectez-vous », l'administrateur du compte saisit son " strong { "numéro de compte client à 6 chiffres" } " comme identifiant ; un utilisateur saisit son identifiant. Puis le mot de passe, et « Confirmer ». Après plusieurs mots de passe erronés, la connexion est suspendue quelques minutes." }
                p { "« Mot de passe oublié ? » : saisissez votre identifiant et l'adresse e-mail enregistrée ; si elles correspondent, vous recevez un lien valable 24 h pour choisir un nouveau mot de passe." }
                p { "La langue se choisit en haut de chaque page (« Langue : Français / English ») ; le choix est conservé." }
            }
            section #utilisateurs {
                h2 { "2. Utilisateurs standards et avancés" }
                p { "Depuis « Mon compte », la brique « Gestion des utilisateurs » présente deux tableaux." }
                ul {
                    li { strong { "Utilisateurs standards" } " : créés par l'administrateur, avec un identifiant et un mot de passe qu'il choisit. Ils accèdent aux applications selon leurs droits et ne sont liés qu'au compte qui les a créés." }
                    li { strong { "Utilisateurs avancés" } " : ils reçoivent des droits étendus (Web Services, outil de suivi colis…) « au nom du compte client », peuvent être liés à plusieurs comptes, et finalisent eux-mêmes leur compte (identifiant, mot de passe) depuis l'invitation reçue par e-mail." }
                }
            }
            section #standard {
                h2 { "3. Ajouter un utilisateur standard" }
                p { "« Ajouter un utilisateur » ouvre le formulaire « Création d'un nouveau compte utilisateur ». Les champs marqués * sont obligatoires. Choisissez l'identifiant et le mot de passe (à confirmer), puis cochez les droits, regroupés comme dans la Colissimo Box (Affranchissement et Retour, Suivi, Livraison, Mon compte, Collecte). Seuls les droits de votre contrat sont proposés. « Enregistrer » crée l'utilisateur ; une erreur s'affiche à côté du champ concerné." }
            }
            section #avance {
                h2 { "4. Ajouter un utilisateur avancé" }
                p { "Le menu « Ajouter un utilisateur avancé » propose « Ajouter un utilisateur » (formulaire unitaire) ou « Ajouter via un fichier d'import »." }
                p { "Dans le formulaire, renseignez l'identité, le " strong { "tag utilisateur" } " (il permet de limiter la vue de l'outil de suivi colis avec le droit « Suivi limité au tag utilisateur ») et les droits : Livraison, Suivi (outil de suivi colis sans ou avec accès au Service Client : limité à la clé utilisateur, au tag, ou consolidé ; Web Service suivi), Eligibilité, Affranchissement." }
                p { "À l'enregistrement, l'utilisateur reçoit un e-mail l'invitant à finaliser la création de son compte : le lien est valable 48 h. Tant qu'il n'a pas confirmé, son statut est « Invitation envoyée ». Une fois confirmé, il reçoit un dernier e-mail récapitulant ses droits." }
            }
            section #import {
                h2 { "5. Ajouter des utilisateurs avancés par fichier" }
                ol {
                    li { "Téléchargez le format du fichier d'import et remplissez une ligne par utilisateur (séparateur « ; », colonnes de droits à « oui » ou « non »). Le fichier peut être enregistré depuis Excel (Windows-1252) ou en UTF-8." }
                    li { "Cliquez sur « Importer » et choisissez le fichier sur votre poste. La progression s'affiche ; la page se met à jour seule (ou avec « Rafraîchir »)." }
                    li { "« Récupérer les résultats » : le fichier de résultat indique pour chaque ligne « Traitement OK », « Vous ne pouvez pas donner le droit » (avec le droit concerné), « Choix invalide » ou « Erreur sur les informations de l'utilisateur »." }
                }
                p { "Le dernier fichier de résultat reste disponible une semaine (la date est affichée). Un nouvel import avant cette date le remplace : la page vous en avertit." }
            }
            section #associer {
                h2 { "6. Associer un utilisateur avancé" }
                p { "Pour lier à votre compte un utilisateur avancé qui existe déjà, demandez-lui sa " strong { "clé utilisateur" } " (visible dans son espace « Mon compte »). Saisissez-la dans « Associer un utilisateur avancé » puis « Rechercher » : ses informations s'affichent en lecture seule, pour vérifier qu'il s'agit de la bonne personne. Cochez les droits et « Enregistrer » : il reçoit un e-mail avec ses droits. Les utilisateurs standards ne peuvent pas être associés." }
            }
            section #tableau {
                h2 { "7. Le tableau des utilisateurs, l'export" }
                p { "Chaque tableau montre Nom, Prénom, Email, Identifiant et statut ; « Voir plus » affiche davantage de lignes, la recherche filtre par nom, prénom, e-mail ou identifiant. « Exporter les utilisateurs avancés » télécharge un fichier CSV des utilisateurs avancés liés à votre compte et de leurs droits (sans identifiants ni mots de passe)." }
            }
            section #modifier {
                h2 { "8. Modifier un utilisateur, supprimer un lien" }
                p { "« Modifier » ouvre l'édition du compte utilisateur : vous y changez les droits sur votre compte, le tag et, pour un utilisateur standard ou un utilisateur avancé pas encore confirmé, ses informations. L'identité d'un utilisateur avancé confirmé est la sienne : lui seul la modifie. L'utilisateur avancé reçoit un e-mail quand ses droits changent." }
                p { "« Supprimer » supprime un utilisateur standard. Pour un utilisateur avancé, « Suppression des liens » retire seulement le lien avec votre compte : son compte et ses liens avec d'autres comptes sont conservés." }
            }
            section #cles {
                h2 { "9. Clé utilisateur et clé de connexion" }
                p { "La " strong { "clé utilisateur" } " identifie un utilisateur avancé : elle sert à l'associer à un nouveau compte. La " strong { "clé de connexion" } " remplace l'identifiant et le mot de passe pour appeler les Web Services ; elle est affichée une seule fois, et l'utilisateur peut la régénérer à tout moment." }
            }
        }
    }
}

fn en() -> maud::Markup {
    html! {
        div.guide {
            section {
                h2 { "1. Signing in" }
                p { "On the sign-in page, the account admin enters the " strong { "6-digit customer account number" } " as login; a user enters their login. Then the password. After several wrong passwords, sign-in pauses for a few minutes. \"Forgotten password?\" mails a reset link (24 hours) when the login and the e-mail on file match. Choose the language at the top of any page." }
            }
            section {
                h2 { "2. Standard and advanced users" }
                p { "Standard users are created by the admin with a login and password and belong to that account only. Advanced users hold extended rights (web services, parcel tracking tool) on behalf of the account, can be linked to several accounts, and complete their own account from the invitation e-mail (valid 48 hours)." }
            }
            section {
                h2 { "3. Adding users" }
                p { "\"Add a user\" opens the standard user form (fields marked * are required; only your contract's rights are offered). \"Add an advanced user\" offers the one-user form (identity, user tag, rights grouped as Delivery, Tracking with and without customer service, Eligibility, Postage) or the import file." }
            }
            section {
                h2 { "4. Import" }
                p { "Download the import format, fill one line per user (\";\" separated, rights \"oui\"/\"non\", Excel's Windows-1252 or UTF-8), click \"Import\" and pick the file. Progress shows on the page; \"Get the results\" downloads the per-line result, available one week unless a new file is imported." }
            }
            section {
                h2 { "5. Associating, editing, exporting" }
                p { "\"Associate an advanced user\" finds an existing advanced user by user key only, shows their identity read-only, and saves the rights you tick. \"Edit\" changes rights, tag and, where the account owns it, identity; \"Remove the link\" unlinks an advanced user without deleting them. \"Export the advanced users\" downloads a CSV of your advanced users and their rights." }
            }
        }
    }
}

//! A small multilingual glossary of the words security reports are made
//! of: a word in English, German, French, Spanish or Portuguese that names
//! one of these things becomes the same term (`~room` for "room", "Raum",
//! "salon", "sala"), so a report in German meets an English one on its
//! words as well as on its fingerprints. Patterns are lower-case: `word`
//! matches the word, `word*` any word it starts (German compounds and
//! inflections), `*part*` any word containing it.

/// The concept a (lower-case) word names, if any: the first concept of
/// [`GLOSSARY`] with a pattern that matches.
pub(super) fn concept(word: &str) -> Option<&'static str> {
    let index = Index::get();
    let better = |best: Option<usize>, i: usize| Some(best.map_or(i, |b| b.min(i)));
    let mut best = index.exact.get(word).copied();
    // Only prefixes as long as the longest pattern: a word is as long as
    // a sender makes it, and looking up each of its prefixes would cost
    // the square of its length.
    let ends = word.char_indices().skip(1).map(|(end, _)| end).chain([word.len()]);
    for end in ends.take_while(|&end| end <= index.longest_prefix) {
        if let Some(&i) = index.prefix.get(&word[..end]) {
            best = better(best, i);
        }
    }
    for &(part, i) in &index.contains {
        if best.is_none_or(|b| i < b) && word.contains(part) {
            best = better(best, i);
        }
    }
    best.map(|i| GLOSSARY[i].0)
}

/// The glossary's patterns by kind, each with the first concept that has
/// it: a word is looked up once per prefix instead of matched against
/// every pattern (every new report's words go through here).
struct Index {
    exact: std::collections::HashMap<&'static str, usize>,
    prefix: std::collections::HashMap<&'static str, usize>,
    /// The longest prefix pattern, in bytes.
    longest_prefix: usize,
    contains: Vec<(&'static str, usize)>,
}

impl Index {
    fn get() -> &'static Index {
        static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
        INDEX.get_or_init(|| {
            let mut index = Index {
                exact: Default::default(),
                prefix: Default::default(),
                longest_prefix: 0,
                contains: Vec::new(),
            };
            for (i, (_, patterns)) in GLOSSARY.iter().enumerate() {
                for p in *patterns {
                    match (p.strip_prefix('*'), p.strip_suffix('*')) {
                        (Some(inner), _) if inner.ends_with('*') => {
                            index.contains.push((&inner[..inner.len() - 1], i));
                        }
                        (_, Some(start)) => {
                            index.prefix.entry(start).or_insert(i);
                            index.longest_prefix = index.longest_prefix.max(start.len());
                        }
                        _ => {
                            index.exact.entry(p).or_insert(i);
                        }
                    }
                }
            }
            index
        })
    }
}

#[rustfmt::skip]
const GLOSSARY: &[(&str, &[&str])] = &[
    ("~room", &["room", "rooms", "raum", "räume", "raumes", "salon", "salons", "sala", "salas", "*raum*"]),
    ("~topic", &["topic", "topics", "thema", "themen", "*thema*", "sujet", "sujets", "tema", "tópico", "assunto"]),
    ("~thumbnail", &["thumbnail*", "*vorschaubild*", "miniature*", "miniatura*"]),
    ("~bomb", &["bomb", "bombs", "*bombe*", "bomba*"]),
    ("~decompress", &["decompress*", "dekompress*", "décompress*", "descompres*"]),
    ("~preview", &["preview", "previews", "*vorschau*", "aperçu", "aperçus", "vista", "previsualización", "pré-visualização", "prévia"]),
    ("~redirect", &["redirect*", "*weiterleit*", "redirection", "redirección", "redirecionamento", "redireciona*"]),
    ("~password", &["password*", "passwort*", "*passwort*", "passwörter", "mot", "contraseña*", "senha*"]),
    ("~token", &["token*", "jeton*"]),
    ("~file", &["file", "files", "datei*", "fichier*", "archivo*", "arquivo*"]),
    ("~directory", &["directory", "verzeichnis*", "répertoire*", "directorio*", "diretório*", "annuaire*", "*verzeichnis*"]),
    ("~media", &["media", "medien*", "média*", "medio*", "mídia*", "*medien*"]),
    ("~email", &["email*", "e-mail*", "mail*", "courriel*", "correo*"]),
    ("~link", &["link", "links", "lien", "liens", "enlace*", "hyperlink*"]),
    ("~message", &["message*", "nachricht*", "mensaje*", "mensagem*", "mensagens"]),
    ("~login", &["login*", "log-in", "anmeld*", "connexion"]),
    ("~account", &["account*", "konto*", "*konto*", "compte*", "cuenta*", "conta", "contas"]),
    ("~device", &["device*", "gerät*", "appareil*", "dispositivo*"]),
    ("~verification", &["verif*", "vérif*", "überprüf*", "prüf*"]),
    ("~certificate", &["certificat*", "zertifikat*", "certificado*", "tls", "ssl", "self-signed"]),
    ("~notification", &["notification*", "benachrichtigung*", "notificación*", "notificaç*"]),
    ("~display-name", &["displayname", "display_name", "anzeigename*", "nom", "exibição"]),
    ("~widget", &["widget*"]),
    ("~search", &["search*", "such*", "recherche*", "búsqueda*", "busca*", "pesquisa*"]),
    ("~admin", &["admin*", "administra*"]),
    ("~upload", &["upload*", "hochlad*", "téléverse*", "subir", "carregar"]),
    ("~download", &["download*", "herunterlad*", "télécharge*", "descarga*", "baixar"]),
    ("~image", &["image", "images", "bild", "bilder", "imagen*", "imagem*", "png", "jpeg", "photo*", "foto*"]),
    ("~filter", &["filter*", "filtre*", "filtro*"]),
    ("~registration", &["regist*", "inscri*", "cadastr*"]),
    ("~invite", &["invit*", "einlad*", "convite*"]),
    ("~memory", &["memory", "speicher*", "mémoire", "memoria", "memória", "oom", "oom-killer"]),
    ("~crash", &["crash*", "absturz*", "abstürz*", "plante*", "cae", "trava*", "derrub*", "lahmleg*"]),
    ("~log", &["log", "logs", "logcat", "logged", "logging", "logger", "protokoll*", "journal*", "registro*"]),
    ("~attempt", &["attempt*", "versuch*", "tentative*", "intento*", "tentativa*", "guess*", "brute*", "durchprobier*"]),
    ("~rate-limit", &["rate", "ratelimit*", "rate-limit*", "begrenzung*", "limitation", "límite", "limite"]),
    ("~header", &["header*", "en-tête*", "cabecera*", "cabeçalho*"]),
    ("~session", &["session*", "sitzung*", "sesión", "sessão"]),
    ("~frame", &["iframe*", "frame*", "frame-ancestors", "x-frame-options", "fotograma*", "frames"]),
    ("~encrypted", &["encrypt*", "verschlüssel*", "chiffr*", "cifrad*", "criptograf*", "megolm", "e2ee"]),
    ("~federation", &["federation", "föderation", "fédération", "federación", "federação", "federated"]),
    ("~redaction", &["redact*", "delete*", "deleted", "gelöscht*", "lösch*", "supprim*", "borrad*", "apagad*"]),
    ("~quarantine", &["quarantin*", "cuarentena"]),
    ("~ban", &["ban", "bans", "banned", "banning", "bann*", "sperr*", "bani*"]),
    ("~command", &["command*", "befehl*", "commande*", "comando*"]),
    ("~update", &["update*", "aktualisier*", "mise", "actualiza*", "atualiza*"]),
    ("~clipboard", &["clipboard", "pasteboard", "zwischenablage", "presse-papiers", "portapapeles", "paste"]),
    ("~private", &["private", "privat*", "privé*", "privad*"]),
    ("~public", &["public", "öffentlich*", "publique*", "pública*", "público*"]),
    ("~identity-server", &["identity", "identität*", "identité", "identidad", "identidade", "sydent"]),
    ("~share", &["share", "sharing", "teilen", "partage*", "compartir", "compartilhar"]),
    ("~template", &["template*", "vorlage*", "modèle*", "plantilla*", "modelo*", "jinja*"]),
    ("~animated", &["animated", "animiert*", "animé*", "animad*", "gif"]),
    ("~desktop", &["desktop", "electron", "bureau", "escritorio", "área"]),
    ("~android", &["android", "activity", "intent", "webview"]),
    ("~ios", &["ios", "iphone", "ipad", "urlsession"]),
    ("~web", &["web", "browser", "navigateur", "navegador"]),
    ("~execute", &["execut*", "ausführ*", "exécut*", "ejecut*", "execuç*", "run", "runs", "launch*"]),
    ("~program", &["program*", "programm*", "executable*", "calc*", "xcalc"]),
    ("~read", &["read", "reads", "reading", "lesen", "lire", "leer", "ler"]),
    ("~server", &["server", "servers", "homeserver*", "serveur*", "servidor*"]),
    ("~user", &["user", "users", "benutzer*", "nutzer*", "utilisateur*", "usuario*", "usuário*"]),
    ("~member", &["member*", "mitglied*", "membre*", "miembro*", "membro*"]),
    ("~key", &["key", "keys", "schlüssel*", "clé", "clés", "clave*", "chave*"]),
    ("~brute-force", &["brute-force", "bruteforce", "força", "fuerza"]),
    ("~nested", &["nested", "nesting", "verschachtelt*", "aninhad*", "imbriqu*", "anidad*", "recursion*", "recursive"]),
    ("~sync", &["sync", "syncing", "synchroni*", "sincroniza*"]),
    ("~mac", &["mac"]),
    ("~race", &["race", "concurrent*", "gleichzeitig*", "simultan*", "twice", "zweimal"]),
    ("~proxy", &["proxy", "mitmproxy", "intercept*", "abfang*"]),
    ("~metadata", &["metadata", "metadaten", "métadonnées", "metadatos"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The glossary's definition, pattern by pattern.
    fn by_scan(word: &str) -> Option<&'static str> {
        let matches = |p: &str| match (p.strip_prefix('*'), p.strip_suffix('*')) {
            (Some(inner), _) if inner.ends_with('*') => word.contains(&inner[..inner.len() - 1]),
            (_, Some(start)) => word.starts_with(start),
            _ => word == p,
        };
        GLOSSARY
            .iter()
            .find_map(|(concept, patterns)| patterns.iter().any(|p| matches(p)).then_some(*concept))
    }

    #[test]
    fn the_index_finds_what_the_patterns_say() {
        let mut words = vec![
            "",
            "x",
            "rooms",
            "raumschiff",
            "hauptraum",
            "mail",
            "e-mail-adresse",
            "überprüfung",
        ];
        for (_, patterns) in GLOSSARY {
            for p in *patterns {
                let bare = p.trim_matches('*');
                words.push(bare);
                words.push(Box::leak(format!("{bare}s").into_boxed_str()));
                words.push(Box::leak(format!("un{bare}").into_boxed_str()));
                words.push(Box::leak(format!("x{bare}y").into_boxed_str()));
                if let Some((i, _)) = bare.char_indices().last() {
                    words.push(&bare[..i]);
                }
            }
        }
        for w in words {
            assert_eq!(concept(w), by_scan(w), "{w:?}");
        }
    }

    #[test]
    fn a_word_of_a_megabyte_is_looked_up_by_its_short_prefixes_only() {
        // Each prefix of it looked up would be ~10^12 bytes hashed: this
        // test would not finish.
        let long = format!("password{}", "x".repeat(1 << 20));
        assert_eq!(concept(&long), Some("~password"));
        let long = "é".repeat(1 << 19);
        assert_eq!(concept(&long), by_scan(&long));
    }
}

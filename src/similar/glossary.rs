//! A small multilingual glossary of the words security reports are made
//! of: a word in English, German, French, Spanish or Portuguese that names
//! one of these things becomes the same term (`~room` for "room", "Raum",
//! "salon", "sala"), so a report in German meets an English one on its
//! words as well as on its fingerprints. Patterns are lower-case: `word`
//! matches the word, `word*` any word it starts (German compounds and
//! inflections), `*part*` any word containing it.

/// The concept a (lower-case) word names, if any.
pub(super) fn concept(word: &str) -> Option<&'static str> {
    GLOSSARY
        .iter()
        .find_map(|(concept, patterns)| patterns.iter().any(|p| matches(word, p)).then_some(*concept))
}

fn matches(word: &str, pattern: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(inner), _) if inner.ends_with('*') => word.contains(&inner[..inner.len() - 1]),
        (_, Some(start)) => word.starts_with(start),
        _ => word == pattern,
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

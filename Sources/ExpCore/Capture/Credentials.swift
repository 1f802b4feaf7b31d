import Foundation

/// Masks values that look like credentials before they are recorded: a run's record travels
/// with `git push`, and whatever it holds is readable by everyone the repository is shared
/// with.
///
/// Masked, wherever they appear in a text:
/// - the password of a URL: `https://user:secret@host` → `https://user:***@host`;
/// - tokens in the formats of common services, keeping the prefix that tells what they
///   were: GitHub `ghp_…`, `gho_…`, `ghu_…`, `ghs_…`, `ghr_…`, `github_pat_…`; GitLab `glpat-…`;
///   Slack `xoxb-…`, `xoxp-…`, `xoxa-…`, `xoxs-…`, `xoxr-…`; OpenAI and Anthropic style `sk-…`
///   (`sk-proj-…`, `sk-ant-…`); AWS access key ids `AKIA…`/`ASIA…`; Hugging Face `hf_…`;
///   npm `npm_…`; PyPI `pypi-…`; Google `AIza…`; JWTs `eyJ….…`;
/// and, in a command line or params, the value given to an option or key whose name says it
/// is a secret (`--api-key X`, `--token=X`, `password=X`).
///
/// Random tokens are told from words by their length and their mix of upper case, lower case
/// and digits, so `--name sk-learn-baseline` stays as it is.
public enum CredentialMask {
    /// What a masked part becomes.
    public static let mask = "***"

    /// `text` with every credential-looking part masked.
    public static func masking(_ text: String) -> String {
        // Fast path: nothing that can start a credential.
        guard text.contains(where: { $0 == "@" || $0 == "_" || $0 == "-" || $0 == "." || $0.isUppercase }) else {
            return text
        }
        var result = text
        for (pattern, template) in patterns {
            let range = NSRange(result.startIndex..., in: result)
            guard pattern.firstMatch(in: result, range: range) != nil else { continue }
            result = pattern.stringByReplacingMatches(in: result, range: range, withTemplate: template)
        }
        return result
    }

    /// A command line with credentials masked, and the value after (or in) an option whose
    /// name says it holds a secret: `--token X`, `--token=X`, `token=X`.
    public static func masking(argv: [String]) -> [String] {
        var masked: [String] = []
        var secretOptionBefore = false
        for (index, word) in argv.enumerated() {
            defer { secretOptionBefore = index > 0 && isSecretOption(word) }
            if secretOptionBefore && !word.hasPrefix("-") {
                masked.append(mask)
                continue
            }
            if let equals = word.firstIndex(of: "="), isSecretName(String(word[..<equals])) {
                masked.append(String(word[...equals]) + mask)
                continue
            }
            masked.append(masking(word))
        }
        return masked
    }

    /// Params with credentials masked: string values that look like one, and every value of a
    /// key whose name says it is a secret.
    public static func masking(params: [String: ParamValue]) -> [String: ParamValue] {
        var masked = params
        for (key, value) in params {
            if isSecretName(key) {
                masked[key] = .string(mask)
            } else if case .string(let text) = value {
                let hidden = masking(text)
                if hidden != text { masked[key] = .string(hidden) }
            }
        }
        return masked
    }

    /// Whether a key or option name (`--api-key`, `db.password`, `HF_TOKEN`, `authToken`) says
    /// its value is a secret: one of its words is token, secret, password, passwd, passphrase,
    /// credential(s) or apikey, or it has key after api, access, secret, private or auth.
    /// Whole words only: `--tokenizer` and `--max-tokens` are not secrets.
    public static func isSecretName(_ name: String) -> Bool {
        var words: [String] = []
        var word = ""
        var previous: Character?
        for character in name {
            if !(character.isLetter || character.isNumber) {
                if !word.isEmpty { words.append(word.lowercased()) }
                word = ""
            } else {
                // camelCase: a new word at an upper-case letter after a lower-case one.
                if character.isUppercase, let previous, previous.isLowercase, !word.isEmpty {
                    words.append(word.lowercased())
                    word = ""
                }
                word.append(character)
            }
            previous = character
        }
        if !word.isEmpty { words.append(word.lowercased()) }
        let secret: Set<String> = [
            "token", "secret", "password", "passwd", "passphrase", "credential", "credentials", "apikey",
        ]
        for (index, word) in words.enumerated() {
            if secret.contains(word) { return true }
            if word == "key", index > 0, ["api", "access", "secret", "private", "auth"].contains(words[index - 1]) {
                return true
            }
        }
        return false
    }

    /// `--token` (not `--token=X`, handled as one word).
    private static func isSecretOption(_ word: String) -> Bool {
        word.hasPrefix("-") && !word.contains("=") && isSecretName(word)
    }

    /// A random-looking body: upper case, lower case and digits all present.
    private static let mixed = "(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[0-9])"

    /// (pattern, replacement) pairs, applied in order.
    nonisolated(unsafe) private static let patterns: [(NSRegularExpression, String)] = {
        let start = "(?<![A-Za-z0-9_])"
        let sources: [(String, String)] = [
            // The password of a URL's user info (scheme://user:password@host).
            ("(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://[^\\s/?#@:]*:)[^\\s/?#]+@", "$1\(mask)@"),
            (start + "(gh[pousr]_)[A-Za-z0-9]{20,}", "$1\(mask)"),
            (start + "(github_pat_)[A-Za-z0-9_]{20,}", "$1\(mask)"),
            (start + "(glpat-)[A-Za-z0-9_-]{20,}", "$1\(mask)"),
            (start + "(xox[bpasr]-)(?=[A-Za-z0-9-]*[0-9])[A-Za-z0-9-]{10,}", "$1\(mask)"),
            (start + "(sk-(?:proj-|ant-)?)" + mixed + "[A-Za-z0-9_-]{20,}", "$1\(mask)"),
            (start + "((?:AKIA|ASIA))[0-9A-Z]{16}(?![0-9A-Za-z])", "$1\(mask)"),
            (start + "(hf_)(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z])[A-Za-z0-9]{30,}", "$1\(mask)"),
            (start + "(npm_)" + mixed + "[A-Za-z0-9]{30,}", "$1\(mask)"),
            (start + "(pypi-)[A-Za-z0-9_-]{50,}", "$1\(mask)"),
            (start + "(AIza)[0-9A-Za-z_-]{35}", "$1\(mask)"),
            (start + "(eyJ)[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}(?:\\.[A-Za-z0-9_-]*)?", "$1\(mask)"),
        ]
        return sources.compactMap { source, template in
            (try? NSRegularExpression(pattern: source)).map { ($0, template) }
        }
    }()
}

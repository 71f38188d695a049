/**
 * The one parser of Secret Manager secret version names,
 * `projects/PROJECT/secrets/SECRET/versions/VERSION`. PROJECT is a project id or
 * number, SECRET a secret id, VERSION a number, `latest` or an alias.
 */

/** A secret version name, whole; the capture groups are project, secret id and version. */
export const SECRET_VERSION_PATTERN =
  /^projects\/([a-z0-9-]{1,63})\/secrets\/([A-Za-z0-9_-]{1,255})\/versions\/(latest|[1-9][0-9]{0,18}|[A-Za-z][A-Za-z0-9_-]{0,62})$/;

/** A parsed secret version name. */
export interface SecretVersionName {
  /** The whole name, as given. */
  readonly name: string;
  /** The secret it is a version of: `projects/PROJECT/secrets/SECRET`. */
  readonly secret: string;
  /** A version number (a decimal string), `latest`, or an alias. */
  readonly version: string;
  /** The version as a number; undefined for `latest` and aliases. */
  readonly number: number | undefined;
}

/** Parses `name`; undefined when it is not a secret version name. */
export function parseSecretVersionName(
  name: string,
): SecretVersionName | undefined {
  const m = SECRET_VERSION_PATTERN.exec(name);
  if (!m) return undefined;
  const [, project, secretId, version] = m as unknown as [
    string,
    string,
    string,
    string,
  ];
  return Object.freeze({
    name,
    secret: `projects/${project}/secrets/${secretId}`,
    version,
    number: /^[0-9]+$/.test(version) ? Number(version) : undefined,
  });
}

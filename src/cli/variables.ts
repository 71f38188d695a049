/**
 * The environment variables of the caller's side (`tvm token`, `tvm exec`, profiles),
 * declared in one place as the function's own are in src/config.ts. They are read or
 * set on the caller's machine, never by the deployed function.
 */
export const CALLER_VARIABLES: Readonly<Record<string, string>> = {
  TVM_CONFIG:
    'the profiles file, instead of $XDG_CONFIG_HOME/tvm/config.yaml (--config overrides it)',
  TVM_PROFILE:
    'the profile to use when --profile is not given (else default_profile, else the only one)',
  TVM_ACCESS_TOKEN_FILE:
    'set by tvm exec for the command it runs: a 0600 file holding the access token',
};

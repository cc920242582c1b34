// The Azure identity variables, read once when this module is first required.
//
// Kong requires plugin handlers in the master process during init, where the
// process environment is still visible; nginx workers see none of it unless
// nginx.conf declares each name with `env`. So the values are captured here,
// at load, and never read again. The handler must import this module (through
// the identity sources) at its top level for that to hold.

export interface IdentityEnvironment {
  AZURE_CLIENT_ID?: string;
  AZURE_CLIENT_SECRET?: string;
  AZURE_TENANT_ID?: string;
  AZURE_FEDERATED_TOKEN_FILE?: string;
  AZURE_AUTHORITY_HOST?: string;
  AZURE_POD_IDENTITY_AUTHORITY_HOST?: string;
  IDENTITY_ENDPOINT?: string;
  IDENTITY_HEADER?: string;
  MSI_ENDPOINT?: string;
  MSI_SECRET?: string;
  IMDS_ENDPOINT?: string;
}

export type VariableReader = (name: string) => string | undefined;


const NAMES: ReadonlyArray<keyof IdentityEnvironment> = [
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_TENANT_ID",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_AUTHORITY_HOST",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "IMDS_ENDPOINT",
];


/** The identity variables that read_variable finds; an empty value counts as unset. */
export function read_environment(read_variable: VariableReader): IdentityEnvironment {
  const found: IdentityEnvironment = {};
  for (const name of NAMES) {
    const value = read_variable(name);
    if (value !== undefined && value !== "") {
      found[name] = value;
    }
  }
  return found;
}


/** The process environment as it was when the module loaded. */
export const environment: Readonly<IdentityEnvironment> = read_environment(os.getenv);

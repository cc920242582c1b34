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
  IDENTITY_SERVER_THUMBPRINT?: string;
  /**
   * Replaces Azure Arc's key file directory; for tests only. Azure defines no
   * such variable. It is read from the environment, never from a plugin
   * config, because of who can set it: the Arc checks keep an endpoint from
   * making us send any file of the host, and the endpoint itself comes from
   * IDENTITY_ENDPOINT in this same environment. Whoever sets one can already
   * set the other (and all of Kong's settings), so the variable gives nobody
   * a power they lacked, while Admin API users, who write plugin configs,
   * cannot reach it. Selection logs a warning when it is set.
   */
  AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR?: string;
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
  "IDENTITY_SERVER_THUMBPRINT",
  "AI_PROXY_AZURE_TEST_ARC_TOKENS_DIR",
];

// The Arc agent's executable on Linux: its presence means Arc, even when the
// agent's variables are not in Kong's environment.
const ARC_AGENT_EXECUTABLE = "/opt/azcmagent/bin/himds";


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


/** Whether a file exists and this process may open it. */
export function file_exists(path: string): boolean {
  const [file] = io.open(path, "rb");
  if (file === undefined) {
    return false;
  }
  file.close();
  return true;
}


/** Whether the Azure Arc agent was installed on this host when the module loaded. */
export const arc_agent_installed: boolean = file_exists(ARC_AGENT_EXECUTABLE);

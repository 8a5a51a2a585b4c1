'use strict';
/**
 * The DR-account mode's parameters (issue #14): the dr stack in an account of its own
 * (`primaryAccountId` on the dr stack, `drAccountId` on the primary). Folded into the settings.
 */
const { ParamError, ACCOUNT_ID, boolean, list, optional } = require('./params.cjs');

/** The primary functions that reach the DR bucket, each with a role of its own. */
const DR_ACCOUNT_FUNCTIONS = ['replicate', 'verify', 'restore', 'jobWorker'];
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/**
 * The role name serverless-iam-roles-per-function gives a function that names none: the framework's role
 * name `<service>-<stage>-<region>-lambdaRole` with the function inserted after the stage, without the
 * `lambdaRole` suffix when that makes it longer than IAM's 64 characters. Deterministic, so the dr stack
 * can name the primary's roles exactly (tests/package/dr-account.test.ts compares it with the primary
 * template's RoleName).
 */
function defaultRoleName(service, stage, fn, region) {
  const parts = [service, stage, fn, region, 'lambdaRole'];
  if (parts.join('-').length > 64) parts.pop();
  return parts.join('-');
}

const accountOfArn = (arn) => arn.split(':')[4];

/** The primary's role names: the plugin's names for this stage and sourceRegion, or named one by one. */
async function readPrimaryRoleNames(param, s) {
  const overrides = {};
  for (const item of list(await param('primaryRoleNames'))) {
    const [fn, name, extra] = item.split('=').map((x) => x.trim());
    if (!DR_ACCOUNT_FUNCTIONS.includes(fn) || !name || extra !== undefined || !ROLE_NAME.test(name)) {
      throw new ParamError(
        'primaryRoleNames',
        `must be <function>=<role name> items for ${DR_ACCOUNT_FUNCTIONS.join(', ')}, got ${JSON.stringify(item)}`,
      );
    }
    overrides[fn] = name;
  }
  return Object.fromEntries(
    DR_ACCOUNT_FUNCTIONS.map((fn) => [
      fn,
      overrides[fn] ?? defaultRoleName(s.names.service, s.names.stage, fn, s.sourceRegion),
    ]),
  );
}

/** The primary stack encrypts DR copies with the DR account's key: a key of another account is a typo. */
function checkPrimaryKey(s, createDrKmsKey) {
  if (s.drAccountId && s.drKmsKeyArn && accountOfArn(s.drKmsKeyArn) !== s.drAccountId) {
    throw new ParamError(
      'kmsKeyArn',
      `must be a key of the DR account ${s.drAccountId}, got ${s.drKmsKeyArn}`,
    );
  }
  if (createDrKmsKey && !s.drKmsKeyArn) {
    throw new ParamError(
      'kmsKeyArn',
      'must be set on the primary stack when the dr stack creates the DR key (createDrKmsKey): ' +
        'deploy the dr stack first and set kmsKeyArn to its DrKmsKeyArn output',
    );
  }
}

/** The dr stack of a DR account: a key it manages, an admin of its own account, Object Lock by default. */
function drAccountStackSettings(s, primaryAccountId, createDrKmsKey) {
  if (!createDrKmsKey && s.drKmsKeyArn) {
    throw new ParamError(
      'kmsKeyArn',
      'names a key the dr stack does not manage, whose key policy would have to grant the primary ' +
        'account by hand: set createDrKmsKey: true instead (or leave kmsKeyArn unset for SSE-S3)',
    );
  }
  for (const arn of s.adminPrincipalArns) {
    if (accountOfArn(arn) === primaryAccountId) {
      throw new ParamError(
        'adminPrincipalArn',
        `names ${arn}, of the primary account: the DR bucket's admin must belong to the DR account`,
      );
    }
  }
  // Immutable by default: a DR account without Object Lock would leave the DR account's own admins able
  // to erase the backup. COMPLIANCE unless the stage chooses GOVERNANCE.
  return { objectLockMode: s.objectLockMode ?? 'COMPLIANCE' };
}

/** Parameters of the DR-account mode, checked; folded into the settings by readSettings. */
async function readDrAccountSettings(param, s) {
  const primaryAccountId = optional('primaryAccountId', await param('primaryAccountId'));
  if (primaryAccountId !== undefined && !ACCOUNT_ID.test(primaryAccountId)) {
    throw new ParamError('primaryAccountId', `must be 12 digits, got ${JSON.stringify(primaryAccountId)}`);
  }
  const createDrKmsKey = boolean('createDrKmsKey', await param('createDrKmsKey'));
  if (primaryAccountId && s.drAccountId && primaryAccountId === s.drAccountId) {
    throw new ParamError('primaryAccountId', 'equals drAccountId: the DR account must be another account');
  }
  const primaryRoleNames = await readPrimaryRoleNames(param, s);

  // Game day (docs/security.md#game-day-the-source-account-is-compromised): `deny` withdraws every grant to
  // the primary account and denies it every S3 action on the DR bucket and every KMS action on the key.
  const primaryAccess = String((await param('primaryAccess')) ?? 'allow');
  if (primaryAccess !== 'allow' && primaryAccess !== 'deny') {
    throw new ParamError('primaryAccess', `must be "allow" or "deny", got ${JSON.stringify(primaryAccess)}`);
  }
  const out = { primaryAccountId, primaryRoleNames, createDrKmsKey, primaryAccess };
  if (s.stackRole === 'primary') {
    checkPrimaryKey(s, createDrKmsKey);
    return out;
  }
  // dr stack: the key it creates replaces kmsKeyArn (which, on a stage shared by both stacks, names it).
  if (createDrKmsKey) out.drKmsKeyArn = { 'Fn::GetAtt': ['DrKmsKey', 'Arn'] };
  if (!primaryAccountId) return out;
  return { ...out, ...drAccountStackSettings(s, primaryAccountId, createDrKmsKey) };
}

module.exports = { DR_ACCOUNT_FUNCTIONS, readDrAccountSettings, defaultRoleName };

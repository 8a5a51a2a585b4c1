'use strict';
/**
 * Parsing of single stage parameters, each failure naming the parameter: the primitives settings.cjs
 * reads serverless.yml's `params:` with. Wrong parameters fail `sls package` here instead of failing a
 * deploy half-way or a Lambda at cold start.
 */

const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:/;
const ACCOUNT_ID = /^\d{12}$/;

class ParamError extends Error {
  constructor(name, message) {
    super(`serverless.yml parameter "${name}" ${message}`);
    this.name = 'ParamError';
    // osls prints a resolver's error.stack: the message is all a reader needs.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** A comma-separated parameter as its trimmed, non-empty items. */
const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const optional = (name, value) => {
  if (value === null || value === undefined) return undefined;
  const text = String(value).trim();
  if (text === '') {
    throw new ParamError(name, 'is an empty string: leave it unset (~) to mean "none"');
  }
  return text;
};

const integer = (name, value, min, max) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ParamError(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
};

/** `true`/`false` (a --param is the string, YAML the boolean); anything else names the parameter. */
const boolean = (name, value) => {
  const text = String(value);
  if (text !== 'true' && text !== 'false') {
    throw new ParamError(name, `must be true or false, got ${JSON.stringify(text)}`);
  }
  return text === 'true';
};

const arns = (name, value) => {
  const items = list(value);
  for (const item of items) {
    if (!ARN.test(item)) throw new ParamError(name, `must hold ARNs, got ${JSON.stringify(item)}`);
  }
  return items;
};

module.exports = { ParamError, ACCOUNT_ID, list, optional, integer, boolean, arns };

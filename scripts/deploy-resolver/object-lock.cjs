'use strict';
/** The DR bucket's Object Lock configuration. */

/** Default retention on every new DR version, when objectLockMode is set. */
const objectLock = {
  enabled: (s) => (s.objectLockMode ? true : null),
  configuration: (s) => {
    if (!s.objectLockMode) return null;
    return {
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: s.objectLockMode, Days: s.objectLockDays } },
    };
  },
};

module.exports = { objectLock };

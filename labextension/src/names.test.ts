import { describe, expect, it } from 'vitest';

import {
  freeInstanceName,
  instanceNameProblem,
  joinName,
  splitName
} from './names';

describe('instance names', () => {
  it('split and join <name>@<instance>; a plain name is the default instance', () => {
    expect(splitName('tb@exp1')).toEqual({ app: 'tb', instance: 'exp1' });
    expect(splitName('tb')).toEqual({ app: 'tb', instance: null });
    expect(joinName('tb', 'exp1')).toBe('tb@exp1');
    expect(joinName('tb', null)).toBe('tb');
  });

  it('accept 1 to 32 letters, digits, "_" and "-"', () => {
    expect(instanceNameProblem('exp_1-a')).toBeNull();
    expect(instanceNameProblem('x'.repeat(32))).toBeNull();
    expect(instanceNameProblem('')).toBe('Give the instance a name');
    for (const bad of ['x'.repeat(33), 'a b', 'a/b', 'a@b', 'é']) {
      expect(instanceNameProblem(bad)).toContain('1 to 32');
    }
  });

  it('suggest a name no instance has', () => {
    expect(freeInstanceName([])).toBe('2');
    expect(freeInstanceName(['2', 'exp', '3'])).toBe('4');
  });
});

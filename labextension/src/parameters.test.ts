import { describe, expect, it } from 'vitest';

import { ValidationError } from './json';
import {
  checkFields,
  describeValues,
  initialFields,
  IParameter,
  parseParameters
} from './parameters';

/** The contract's example schema. */
const SCHEMA = {
  type: 'object',
  properties: {
    logdir: {
      type: 'string',
      title: 'Log directory',
      default: '/tmp/logs',
      pattern: '^[^\\0]*$'
    },
    level: { type: 'string', enum: ['a', 'b'] },
    workers: { type: 'integer', minimum: 1, maximum: 8, default: 2 },
    debug: { type: 'boolean', default: false }
  },
  required: ['logdir']
};

function params(): IParameter[] {
  const parsed = parseParameters(SCHEMA, 'parameters');
  if (!parsed) {
    throw new Error('no parameters');
  }
  return parsed;
}

describe('parseParameters', () => {
  it("reads the contract's schema: types, titles, defaults, enums, limits, required", () => {
    const [logdir, level, workers, debug] = params();
    expect(logdir).toMatchObject({
      name: 'logdir',
      type: 'string',
      title: 'Log directory',
      default: '/tmp/logs',
      pattern: '^[^\\0]*$',
      required: true
    });
    expect(level).toMatchObject({
      title: 'level',
      enum: ['a', 'b'],
      default: null,
      required: false
    });
    expect(workers).toMatchObject({ type: 'integer', minimum: 1, maximum: 8 });
    expect(debug).toMatchObject({ type: 'boolean', default: false });
  });

  it('means "no dialog" for a missing or empty schema', () => {
    expect(parseParameters(undefined, 'p')).toBeNull();
    expect(parseParameters(null, 'p')).toBeNull();
    expect(parseParameters({ type: 'object' }, 'p')).toBeNull();
  });

  it('names the part of a schema it cannot build a form from', () => {
    const bad: [unknown, string][] = [
      [{ type: 'array' }, 'p should be a schema of type object'],
      [{ properties: [] }, 'p.properties should be an object'],
      [{ properties: { x: {} } }, 'p.properties.x.type'],
      [
        { properties: { x: { type: 'integer', default: 1.5 } } },
        'p.properties.x.default should be a integer'
      ],
      [
        { properties: { x: { type: 'string', enum: [] } } },
        'p.properties.x.enum'
      ],
      [
        { properties: { x: { type: 'number', maximum: 'ten' } } },
        'p.properties.x.maximum'
      ],
      [{ properties: {}, required: 'x' }, 'p.required']
    ];
    for (const [schema, message] of bad) {
      expect(() => parseParameters(schema, 'p')).toThrow(ValidationError);
      expect(() => parseParameters(schema, 'p')).toThrow(message);
    }
  });
});

describe('the form', () => {
  it('starts from the defaults, or the values given last time', () => {
    expect(initialFields(params())).toEqual({
      logdir: '/tmp/logs',
      level: '',
      workers: '2',
      debug: false
    });
    expect(
      initialFields(params(), {
        level: 'b',
        workers: 4,
        debug: true,
        logdir: 7
      })
    ).toEqual({ logdir: '/tmp/logs', level: '1', workers: '4', debug: true });
  });

  it('sends typed values: numbers as numbers, enum choices exact, booleans always', () => {
    expect(
      checkFields(params(), {
        logdir: '/data/run 1; rm -rf ~',
        level: '1',
        workers: ' 8 ',
        debug: true
      })
    ).toEqual({
      values: {
        logdir: '/data/run 1; rm -rf ~',
        level: 'b',
        workers: 8,
        debug: true
      },
      errors: {}
    });
    const numbers = parseParameters(
      { properties: { n: { type: 'number', enum: [0.5, 2] } } },
      'p'
    );
    expect(checkFields(numbers ?? [], { n: '0' }).values).toEqual({ n: 0.5 });
  });

  it('leaves an empty optional field out, so the server applies its default', () => {
    const { values, errors } = checkFields(params(), {
      logdir: '/x',
      level: '',
      workers: '',
      debug: false
    });
    expect(errors).toEqual({});
    expect(values).toEqual({ logdir: '/x', debug: false });
  });

  it('names what is wrong, by parameter, before anything is sent', () => {
    expect(
      checkFields(params(), {
        logdir: '',
        level: '9',
        workers: '2.5',
        debug: false
      }).errors
    ).toEqual({
      logdir: 'Log directory is required',
      level: 'level must be one of the listed values',
      workers: 'workers must be a whole number'
    });
    const limits = (workers: string) =>
      checkFields(params(), { logdir: '/x', workers }).errors['workers'];
    expect(limits('0')).toBe('workers must be at least 1');
    expect(limits('9')).toBe('workers must be at most 8');
    expect(limits('two')).toBe('workers must be a number');
    expect(limits('1e400')).toBe('workers must be a number');
  });

  it('applies pattern (unanchored, as JSON Schema) and lengths in code points', () => {
    const strings = parseParameters(
      {
        properties: {
          tag: { type: 'string', pattern: '[a-z]', minLength: 2, maxLength: 3 }
        }
      },
      'p'
    );
    const check = (tag: string) =>
      checkFields(strings ?? [], { tag }).errors['tag'] ?? null;
    expect(check('A1b')).toBeNull(); // "b" matches: the pattern is not anchored
    expect(check('AB')).toBe('tag must match [a-z]');
    expect(check('a')).toBe('tag must be at least 2 characters');
    expect(check('ab😀')).toBeNull(); // 3 code points, 4 UTF-16 units
    expect(check('abcd')).toBe('tag must be at most 3 characters');
    expect(checkFields(params(), { logdir: 'a\0b' }).errors['logdir']).toBe(
      'Log directory must match ^[^\\0]*$'
    );
  });

  it('lets a value through when JavaScript cannot compile the pattern (the server judges)', () => {
    const odd = parseParameters(
      { properties: { x: { type: 'string', pattern: '(?P<n>a)' } } },
      'p'
    );
    expect(checkFields(odd ?? [], { x: 'zzz' }).errors).toEqual({});
  });
});

describe('describeValues', () => {
  it('lists the values an instance started with', () => {
    expect(describeValues({ logdir: '/x', workers: 2, debug: true })).toBe(
      'logdir=/x, workers=2, debug=true'
    );
  });
});

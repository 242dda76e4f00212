/**
 * The layering rules of docs/architecture.md, checked on every `npm test`.
 * domain ← ports ← core ← transport ← app; adapters implement ports; only app composes.
 */
const DRIVERS = 'node_modules/(socket\\.io|socket\\.io-client|fastify|better-sqlite3|redis|ioredis|@socket\\.io|jose|pino|pg|mongodb|kafkajs|ulid)/';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'domain-is-pure', severity: 'error', from: { path: '^src/domain' }, to: { path: '^src/(?!domain)' } },
    { name: 'domain-no-drivers', severity: 'error', from: { path: '^src/domain' }, to: { dependencyTypes: ['npm'], pathNot: 'node_modules/zod' } },
    { name: 'ports-only-domain', severity: 'error', from: { path: '^src/ports' }, to: { path: '^src/(?!domain|ports)' } },
    { name: 'ports-no-drivers', severity: 'error', from: { path: '^src/ports' }, to: { dependencyTypes: ['npm'] } },
    { name: 'core-only-domain-ports', severity: 'error', from: { path: '^src/core' }, to: { path: '^src/(transport|adapters|app)' } },
    { name: 'core-no-drivers', severity: 'error', from: { path: '^src/core' }, to: { dependencyTypes: ['npm'], pathNot: 'node_modules/zod' } },
    { name: 'adapters-only-ports-domain', severity: 'error', from: { path: '^src/adapters' }, to: { path: '^src/(core|transport|app)' } },
    { name: 'transport-not-adapters', severity: 'error', from: { path: '^src/transport' }, to: { path: '^src/(adapters|app)' } },
    { name: 'only-app-composes', severity: 'error', from: { path: '^src/(?!app)' }, to: { path: '^src/app' } },
    { name: 'drivers-stay-out-of-core', severity: 'error', from: { path: '^src/(domain|ports|core)' }, to: { path: DRIVERS } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};

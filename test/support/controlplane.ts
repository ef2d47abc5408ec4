// The sandbox control plane lives in src/sandbox/ (`make run` uses it too); tests import it from here.
export * from '../../src/sandbox/controlplane.js';

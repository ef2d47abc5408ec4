// An informer as the program makes it (InformerFactory on a keep-alive KubeClient), for tests
// that feed a store or the namespace owners without the whole program.
import type { KubeConfig, V1Namespace } from '@kubernetes/client-node';
import type { EventObject } from '../../src/events/store.js';
import { InformerFactory, type InformerSpec } from '../../src/kube/factory.js';
import type { ResilientInformer } from '../../src/kube/informer.js';
import type { AnyKubeObject } from '../../src/kube/meta.js';
import { KubeClient } from '../../src/kube/rest.js';

/** The informer of `spec` on its own client; its stop() also closes that client. */
export async function informerFor<T extends AnyKubeObject>(kc: KubeConfig, spec: InformerSpec<T>): Promise<ResilientInformer<T>> {
  const client = await KubeClient.create(kc);
  const informer = new InformerFactory(client).informer(spec);
  const stop = informer.stop.bind(informer);
  informer.stop = () => {
    stop();
    client.close();
  };
  return informer;
}

export type EventInformer = ResilientInformer<EventObject>;
export type NamespaceInformer = ResilientInformer<V1Namespace>;

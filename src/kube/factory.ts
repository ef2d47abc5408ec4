// One informer per (resource, selector) in a process, as client-go's SharedInformerFactory:
// the operator, the event store and the namespace owners ask the factory and share what they
// watch (the managed namespaces used to be watched twice, the events API's and the operator's).
// Lists and watches go through the keep-alive KubeClient; the first registration's `transform` holds for
// every user of an informer, so register what you need before start().
import type { Logger } from 'winston';
import { ResilientInformer, type ListOptions } from './informer.js';
import { resourcePath, type KubeClient } from './rest.js';
import type { AnyKubeObject, ListObject } from './meta.js';
import { StringPool } from './intern.js';

export interface InformerSpec<T extends AnyKubeObject> {
  apiVersion: string;
  kind: string;
  plural: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied to every object before it is cached (see ResilientInformerOptions.transform). */
  transform?: (obj: T) => T;
}

export interface InformerFactoryOptions {
  watchTimeoutSeconds?: number;
  logger?: Logger;
}

/** One informer per resource and selector. */
function informerKey(spec: Pick<InformerSpec<AnyKubeObject>, 'apiVersion' | 'plural' | 'labelSelector' | 'fieldSelector'>): string {
  return [spec.apiVersion, spec.plural, spec.labelSelector ?? '', spec.fieldSelector ?? ''].join(' ');
}

export class InformerFactory {
  private readonly informers = new Map<string, { name: string; informer: ResilientInformer<AnyKubeObject> }>();
  private started = false;
  /** One copy of the short strings every cached object repeats (shared by all informers). */
  private readonly strings = new StringPool();

  constructor(
    private readonly client: KubeClient,
    private readonly options: InformerFactoryOptions = {},
  ) {}

  /** The informer of a resource and selector, made on first request and shared after that. */
  informer<T extends AnyKubeObject>(spec: InformerSpec<T>): ResilientInformer<T> {
    const key = informerKey(spec);
    let entry = this.informers.get(key);
    if (!entry) {
      const name = spec.labelSelector || spec.fieldSelector ? `${spec.plural}(${spec.labelSelector ?? ''}${spec.fieldSelector ?? ''})` : spec.plural;
      const informer = this.make(spec) as unknown as ResilientInformer<AnyKubeObject>;
      entry = { name, informer };
      this.informers.set(key, entry);
      if (this.started) informer.start();
    }
    return entry.informer as unknown as ResilientInformer<T>;
  }

  /** The informer of a resource and selector if one was made, without making one. */
  existing<T extends AnyKubeObject>(spec: Pick<InformerSpec<T>, 'apiVersion' | 'plural' | 'labelSelector' | 'fieldSelector'>): ResilientInformer<T> | undefined {
    return this.informers.get(informerKey(spec))?.informer as unknown as ResilientInformer<T> | undefined;
  }

  /** Starts every informer (and those made later). Idempotent. */
  start(): void {
    this.started = true;
    for (const { informer } of this.informers.values()) informer.start();
  }

  stop(): void {
    this.started = false;
    for (const { informer } of this.informers.values()) informer.stop();
  }

  /** Every informer made so far, by a readable name. */
  all(): { name: string; informer: ResilientInformer<AnyKubeObject> }[] {
    return [...this.informers.values()];
  }

  /** Whether every informer follows the server now (for /health). */
  isWatching(): boolean {
    return this.all().every(({ informer }) => informer.isWatching());
  }

  private make<T extends AnyKubeObject>(spec: InformerSpec<T>): ResilientInformer<T> {
    const path = resourcePath({ apiVersion: spec.apiVersion, plural: spec.plural });
    const list = async (opts: ListOptions): Promise<ListObject<T>> => {
      const page = await this.client.list<T>(path, {
        limit: opts.limit,
        continue: opts._continue,
        resourceVersion: opts.resourceVersion,
        labelSelector: spec.labelSelector,
        fieldSelector: spec.fieldSelector,
      });
      // List items come without apiVersion and kind; watch events carry them. Make them alike.
      for (const item of page.items) {
        item.apiVersion = spec.apiVersion;
        item.kind = spec.kind;
      }
      return {
        apiVersion: page.apiVersion ?? spec.apiVersion,
        kind: page.kind ?? `${spec.kind}List`,
        metadata: { resourceVersion: page.metadata?.resourceVersion, _continue: page.metadata?.continue },
        items: page.items,
      };
    };
    return new ResilientInformer<T>({
      path,
      list,
      watch: (opts, callbacks, signal) =>
        this.client.watch<T>(path, { ...opts, labelSelector: spec.labelSelector, fieldSelector: spec.fieldSelector }, callbacks, signal),
      watchTimeoutSeconds: this.options.watchTimeoutSeconds,
      transform: (obj: T) => {
        // Nothing here reads managedFields; kept, they were the largest part of a cached object.
        if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
        return this.strings.intern(spec.transform ? spec.transform(obj) : obj);
      },
      logger: this.options.logger?.child({ component: `informer:${spec.plural}` }),
    });
  }
}

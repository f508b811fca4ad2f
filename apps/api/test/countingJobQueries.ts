import { JobQueries, type JobRecord } from '@inferq/db';

/** The real job reads, counting the job rows read and the statements that read them. */
export class CountingJobQueries extends JobQueries {
  reads = 0;
  statements = 0;
  override async get(id: string): Promise<JobRecord | null> {
    this.reads++;
    this.statements++;
    return super.get(id);
  }
  override async getMany(ids: readonly string[]): Promise<Array<JobRecord | null>> {
    this.reads += ids.length;
    this.statements++;
    return super.getMany(ids);
  }
}

/** What every benchmark returns besides its figures: the goals, each with what was measured. */
export interface GoalCheck {
  /** The goal as the issue states it. */
  goal: string;
  /** The figure that decides it. */
  measured: string;
  met: boolean;
}

export function goal(text: string, measured: string, met: boolean): GoalCheck {
  return { goal: text, measured, met };
}
